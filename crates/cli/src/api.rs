//! `asg-lifecycle api call|operations|services`: any operation of a service model, like `aws
//! <service> <operation>`: the shipped models (botocore's, of the services a lifecycle touches)
//! or a `service-2.json` file.

use std::path::PathBuf;
use std::process::ExitCode;

use asg_lifecycle::waiter::CallError;
use serde_json::{Map, Value, json};

use crate::cloud;
use crate::exit;
use crate::global::Global;
use crate::output::Printer;
use crate::waiter::parse_param;

/// Arguments of `api`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Call one operation and print its output in the API's JSON shape; exit 0 on success, 1
    /// on an error response (printed as `{"Error": {"Code", "Message"}}`), 3 when no response
    /// came, 64 when the input does not fit the model (nothing is sent).
    #[command(after_help = r#"Examples:
  asg-lifecycle api call ec2 DescribeInstances --param InstanceIds:='["i-0abc"]' --query 'Reservations[].Instances[].State.Name'
  asg-lifecycle api call autoscaling DescribeAutoScalingGroups --param AutoScalingGroupNames:='["web"]'
  asg-lifecycle api call eks ListNodegroups --param clusterName=prod
  asg-lifecycle api call --service-model sqs-service-2.json sqs ListQueues

`--param K=V` passes V as a string; `--param K:=JSON` a JSON value (number, boolean, list,
object); `--input JSON` the whole input. Timestamps are ISO 8601 text or epoch seconds."#)]
    Call(CallArgs),
    /// List the operations of a service.
    #[command(after_help = "Examples:
  asg-lifecycle api operations eks
  asg-lifecycle api operations --service-model my-service-2.json my-service")]
    Operations {
        /// The service (`ec2`, `autoscaling`, ...; see `api services`).
        service: String,
        /// A service model file (botocore `service-2.json`, or `.json.gz`) instead of the
        /// shipped one.
        #[arg(long, value_name = "FILE")]
        service_model: Option<PathBuf>,
    },
    /// List the services whose models ship with asg-lifecycle.
    Services,
}

#[derive(clap::Args)]
struct CallArgs {
    /// The service (`ec2`, `autoscaling`, `dynamodb`, ...; see `api services`), or the name
    /// given to --service-model.
    service: String,
    /// The operation, in its API name (`DescribeInstances`).
    operation: String,
    /// A service model file (botocore `service-2.json`, or `.json.gz`) instead of the shipped
    /// one.
    #[arg(long, value_name = "FILE")]
    service_model: Option<PathBuf>,
    /// The whole input as a JSON object (`--param` members are added to it).
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// An input member in its API name: `KEY=VALUE` gives the string VALUE, `KEY:=JSON` a JSON
    /// value.
    #[arg(long = "param", value_name = "KEY=VALUE|KEY:=JSON", value_parser = parse_param)]
    params: Vec<(String, Value)>,
}

/// Runs `api call`, `api operations` or `api services`.
pub async fn run(args: Args, global: &Global, out: &Printer) -> ExitCode {
    match args.command {
        Command::Call(args) => call(args, global, out).await,
        Command::Operations {
            service,
            service_model,
        } => match cloud::operation_names(&service, service_model.as_deref()) {
            Ok(names) => print_list(out, "operations", &names),
            Err(e) => exit::fail(exit::USAGE, e),
        },
        Command::Services => {
            let names: Vec<String> = cloud::shipped_services()
                .into_iter()
                .map(String::from)
                .collect();
            print_list(out, "services", &names)
        }
    }
}

fn print_list(out: &Printer, key: &str, names: &[String]) -> ExitCode {
    if out.is_human() {
        for name in names {
            println!("{name}");
        }
        return exit::code(exit::SUCCESS);
    }
    if out.print(&json!({ key: names })) {
        exit::code(exit::SUCCESS)
    } else {
        exit::code(exit::ERROR)
    }
}

/// Calls the operation; the output (or the error response) is printed as JSON.
async fn call(args: CallArgs, global: &Global, out: &Printer) -> ExitCode {
    let mut input = match args.input.as_deref().map(serde_json::from_str::<Value>) {
        None => Map::new(),
        Some(Ok(Value::Object(map))) => map,
        Some(Ok(other)) => {
            return exit::fail(
                exit::USAGE,
                format!("--input must be a JSON object, got {other}"),
            );
        }
        Some(Err(e)) => return exit::fail(exit::USAGE, format!("--input is not JSON: {e}")),
    };
    input.extend(args.params);
    let result = cloud::call(
        global.endpoint(),
        &args.service,
        args.service_model.as_deref(),
        &args.operation,
        &Value::Object(input),
    )
    .await;
    let (document, code) = match result {
        Ok(output) => (output, exit::SUCCESS),
        Err(CallError::Service(error)) => {
            eprintln!("error: {}", CallError::Service(error.clone()));
            (error.to_json(), exit::FAILED)
        }
        Err(e @ CallError::InvalidInput(_)) => return exit::fail(exit::USAGE, e),
        Err(e @ CallError::Dispatch(_)) => return exit::fail(exit::ERROR, e),
    };
    let printed = if out.is_human() {
        match serde_json::to_string_pretty(&document) {
            Ok(text) => {
                println!("{text}");
                true
            }
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        }
    } else {
        out.print(&document)
    };
    if printed {
        exit::code(code)
    } else {
        exit::code(exit::ERROR)
    }
}
