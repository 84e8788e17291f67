//! The function's configuration, read once from the environment at init.

use std::path::{Path, PathBuf};
use std::time::Duration;

use asg_lifecycle::handler::HandlerConfig;
use asg_lifecycle::machine::{EXAMPLE_MODEL_NAME, Machine, ValidationReport};

/// The table holding the instance records (required).
pub const ENV_TABLE_NAME: &str = "TABLE_NAME";
/// The Auto Scaling groups the sweep lists, comma-separated (required, at least one).
pub const ENV_GROUP_NAMES: &str = "GROUP_NAMES";
/// The model file; unset: [`EXAMPLE_MODEL_NAME`] in `LAMBDA_TASK_ROOT` or next to the binary,
/// else the model compiled into the binary.
pub const ENV_TRANSITIONS_FILE: &str = "TRANSITIONS_FILE";
/// The name the sweep's scheduled events carry (default [`HandlerConfig::default`]'s).
pub const ENV_SWEEP_RULE: &str = "SWEEP_RULE";
/// The function timeout in seconds (the template's `FunctionTimeout`): the SSM intent lease is
/// kept longer, so that no live invocation's intent is taken over.
pub const ENV_FUNCTION_TIMEOUT: &str = "FUNCTION_TIMEOUT";
/// The sweep's schedule (the template's `SweepSchedule`, `rate(N minutes)`): heartbeats are
/// scheduled against it.
pub const ENV_SWEEP_SCHEDULE: &str = "SWEEP_SCHEDULE";
/// The CloudWatch namespace of the EMF metrics (default [`DEFAULT_METRICS_NAMESPACE`]).
pub const ENV_METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
/// The URL of the dead-letter queue poison payloads are kept in, with their reason (optional:
/// unset, a poison payload fails the invocation and Lambda's bounded retries end in the
/// on-failure destination).
pub const ENV_DEAD_LETTER_QUEUE_URL: &str = "DEAD_LETTER_QUEUE_URL";
/// The key prefix of instances' registration items, `arn:PARTITION:ec2:REGION:ACCOUNT:instance/`
/// (the template sets it): the sweep reads a registration its stream event has not brought.
pub const ENV_REGISTRATION_KEY_PREFIX: &str = "REGISTRATION_KEY_PREFIX";
/// The directory Lambda unpacks the deployment package into.
pub const ENV_LAMBDA_TASK_ROOT: &str = "LAMBDA_TASK_ROOT";

/// The metrics namespace when [`ENV_METRICS_NAMESPACE`] is unset.
pub const DEFAULT_METRICS_NAMESPACE: &str = "AsgLifecycle";

/// Reading the configuration or the model at init failed; the init fails with it.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A required variable is unset or empty.
    #[error("failed to read the configuration: environment variable {name} is not set")]
    MissingVariable {
        /// The variable.
        name: &'static str,
    },
    /// A variable has a value that cannot be used.
    #[error("failed to read the configuration: {name}: {message}")]
    InvalidVariable {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The model is invalid; the report lists every problem with its location.
    #[error("failed to load the model: it is invalid\n{0}")]
    InvalidModel(ValidationReport),
}

/// Where the model comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// A file (from [`ENV_TRANSITIONS_FILE`] or found in the package).
    File(PathBuf),
    /// The example model compiled into the binary.
    Embedded,
}

/// The function's configuration.
#[derive(Clone, Debug)]
pub struct LambdaConfig {
    /// The DynamoDB table.
    pub table: String,
    /// The Auto Scaling groups whose active records the sweep lists.
    pub groups: Vec<String>,
    /// Where the file-defined model comes from (unused by [`super::run`], which gets a model).
    pub model: ModelSource,
    /// The handler settings (`sweep_rule` from [`ENV_SWEEP_RULE`]).
    pub handler: HandlerConfig,
    /// The CloudWatch namespace of the metrics.
    pub metrics_namespace: String,
    /// The service dimension of the metrics (the function name, else `asg-lifecycle`).
    pub service: String,
    /// The dead-letter queue's URL ([`ENV_DEAD_LETTER_QUEUE_URL`]).
    pub dead_letter_queue_url: Option<String>,
    /// The key prefix of registration items ([`ENV_REGISTRATION_KEY_PREFIX`]).
    pub registration_prefix: Option<String>,
    /// Time kept free before the invocation deadline when bounding a whole message: past it,
    /// the message is abandoned (and retried) rather than answered after Lambda's own timeout.
    pub hard_margin: Duration,
}

impl LambdaConfig {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// [`InitError::MissingVariable`] or [`InitError::InvalidVariable`].
    pub fn from_env() -> Result<Self, InitError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// [`InitError::MissingVariable`] or [`InitError::InvalidVariable`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let table = get(ENV_TABLE_NAME).ok_or(InitError::MissingVariable {
            name: ENV_TABLE_NAME,
        })?;
        let groups: Vec<String> = get(ENV_GROUP_NAMES)
            .ok_or(InitError::MissingVariable {
                name: ENV_GROUP_NAMES,
            })?
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect();
        if groups.is_empty() {
            return Err(InitError::InvalidVariable {
                name: ENV_GROUP_NAMES,
                message: "no group name in the list".into(),
            });
        }
        let model = match get(ENV_TRANSITIONS_FILE) {
            Some(path) => ModelSource::File(PathBuf::from(path)),
            None => find_bundled_model(
                get(ENV_LAMBDA_TASK_ROOT).map(PathBuf::from),
                std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(Path::to_path_buf)),
            ),
        };
        let mut handler = HandlerConfig {
            groups: groups.clone(),
            ..HandlerConfig::default()
        };
        if let Some(rule) = get(ENV_SWEEP_RULE) {
            if rule.contains('/') {
                return Err(InitError::InvalidVariable {
                    name: ENV_SWEEP_RULE,
                    message: format!("`{rule}` is not a rule name (no `/` allowed)"),
                });
            }
            handler.sweep_rule = rule;
        }
        if let Some(text) = get(ENV_FUNCTION_TIMEOUT) {
            let seconds: u64 = text
                .trim()
                .parse()
                .ok()
                .filter(|s| (1..=900).contains(s))
                .ok_or_else(|| InitError::InvalidVariable {
                    name: ENV_FUNCTION_TIMEOUT,
                    message: format!("`{text}` is not a number of seconds from 1 to 900"),
                })?;
            handler = handler.with_function_timeout(Duration::from_secs(seconds));
        }
        if let Some(text) = get(ENV_SWEEP_SCHEDULE) {
            handler.sweep_period = parse_rate(&text).ok_or_else(|| InitError::InvalidVariable {
                name: ENV_SWEEP_SCHEDULE,
                message: format!(
                    "`{text}` is not an EventBridge rate expression (`rate(5 minutes)`)"
                ),
            })?;
        }
        let registration_prefix = get(ENV_REGISTRATION_KEY_PREFIX);
        if let Some(prefix) = &registration_prefix
            && asg_lifecycle::registration::instance_of_key(&format!("{prefix}i-0")).is_none()
        {
            return Err(InitError::InvalidVariable {
                name: ENV_REGISTRATION_KEY_PREFIX,
                message: format!(
                    "`{prefix}` is not an instance ARN prefix (`arn:aws:ec2:REGION:ACCOUNT:instance/`)"
                ),
            });
        }
        Ok(Self {
            table,
            groups,
            model,
            handler,
            registration_prefix,
            metrics_namespace: get(ENV_METRICS_NAMESPACE)
                .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.into()),
            service: get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "asg-lifecycle".into()),
            dead_letter_queue_url: get(ENV_DEAD_LETTER_QUEUE_URL),
            // Enough to post the answer after abandoning the work.
            hard_margin: Duration::from_secs(1),
        })
    }

    /// Loads and validates the file-defined model.
    ///
    /// # Errors
    /// [`InitError::InvalidModel`] with every problem (an unreadable file is one).
    pub fn load_model(&self) -> Result<Machine, InitError> {
        match &self.model {
            ModelSource::Embedded => Ok(Machine::example()),
            ModelSource::File(path) => {
                let model = asg_lifecycle::machine::FileModel::load(path)
                    .map_err(InitError::InvalidModel)?;
                Machine::from_model(&model).map_err(InitError::InvalidModel)
            }
        }
    }
}

/// The bundled model file: [`EXAMPLE_MODEL_NAME`] under the task root, then next to the binary;
/// the embedded model when neither exists.
fn find_bundled_model(task_root: Option<PathBuf>, exe_dir: Option<PathBuf>) -> ModelSource {
    task_root
        .into_iter()
        .chain(exe_dir)
        .map(|dir| dir.join(EXAMPLE_MODEL_NAME))
        .find(|path| path.is_file())
        .map_or(ModelSource::Embedded, ModelSource::File)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<LambdaConfig, InitError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        LambdaConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn table_and_groups_are_read_and_groups_trimmed() {
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("GROUP_NAMES", " web-asg, db-asg ,,"),
            ("SWEEP_RULE", "sweep"),
        ])
        .unwrap();
        assert_eq!(c.table, "t");
        assert_eq!(c.groups, ["web-asg", "db-asg"]);
        assert_eq!(c.handler.sweep_rule, "sweep");
        assert_eq!(c.metrics_namespace, DEFAULT_METRICS_NAMESPACE);
    }

    #[test]
    fn a_missing_table_fails_the_init_naming_the_variable() {
        let e = config(&[("GROUP_NAMES", "g")]).unwrap_err();
        assert!(e.to_string().contains("TABLE_NAME"), "{e}");
        let e = config(&[("TABLE_NAME", "t"), ("GROUP_NAMES", " , ")]).unwrap_err();
        assert!(e.to_string().contains("GROUP_NAMES"), "{e}");
    }

    #[test]
    fn the_registration_key_prefix_must_be_an_instance_arn_prefix() {
        let base = [("TABLE_NAME", "t"), ("GROUP_NAMES", "g")];
        let c = config(&base).unwrap();
        assert_eq!(c.registration_prefix, None);
        let prefix = "arn:aws:ec2:us-east-1:123456789012:instance/";
        let c = config(&[base[0], base[1], ("REGISTRATION_KEY_PREFIX", prefix)]).unwrap();
        assert_eq!(c.registration_prefix.as_deref(), Some(prefix));
        let e = config(&[base[0], base[1], ("REGISTRATION_KEY_PREFIX", "i-")]).unwrap_err();
        assert!(e.to_string().contains("REGISTRATION_KEY_PREFIX"), "{e}");
    }

    #[test]
    fn the_sweep_rule_defaults_to_the_handler_default() {
        let c = config(&[("TABLE_NAME", "t"), ("GROUP_NAMES", "g")]).unwrap();
        assert_eq!(c.handler.sweep_rule, HandlerConfig::default().sweep_rule);
        assert!(
            config(&[
                ("TABLE_NAME", "t"),
                ("GROUP_NAMES", "g"),
                ("SWEEP_RULE", "a/b")
            ])
            .is_err()
        );
    }

    #[test]
    fn the_bundled_model_is_found_in_the_task_root_else_embedded() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            find_bundled_model(Some(dir.path().into()), None),
            ModelSource::Embedded
        );
        let file = dir.path().join(EXAMPLE_MODEL_NAME);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, asg_lifecycle::machine::EXAMPLE_MODEL).unwrap();
        assert_eq!(
            find_bundled_model(None, Some(dir.path().into())),
            ModelSource::File(file.clone())
        );
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("GROUP_NAMES", "g"),
            ("TRANSITIONS_FILE", file.to_str().unwrap()),
        ])
        .unwrap();
        assert!(c.load_model().is_ok());
    }

    #[test]
    fn an_invalid_model_fails_with_the_located_report() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.yaml");
        std::fs::write(
            &file,
            asg_lifecycle::machine::EXAMPLE_MODEL.replace("dest: joined_cluster", "dest: nowhere"),
        )
        .unwrap();
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("GROUP_NAMES", "g"),
            ("TRANSITIONS_FILE", file.to_str().unwrap()),
        ])
        .unwrap();
        let e = c.load_model().unwrap_err().to_string();
        assert!(e.contains("unknown-state"), "{e}");
        assert!(e.contains("bad.yaml:"), "{e}");
    }
}

/// The period of an EventBridge rate expression: `rate(1 minute)`, `rate(5 minutes)`,
/// `rate(2 hours)`, `rate(1 day)`.
fn parse_rate(text: &str) -> Option<Duration> {
    let inner = text.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (value, unit) = inner.trim().split_once(' ')?;
    let value: u64 = value.parse().ok().filter(|v| *v > 0)?;
    let unit_seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    value.checked_mul(unit_seconds).map(Duration::from_secs)
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn rate_expressions_give_the_sweep_period() {
        assert_eq!(
            parse_rate("rate(5 minutes)"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_rate("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(parse_rate("rate(2 hours)"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_rate("cron(0 * * * ? *)"), None);
        assert_eq!(parse_rate("rate(0 minutes)"), None);
    }

    #[test]
    fn the_function_timeout_and_schedule_shape_the_handler() {
        let env = |name: &str| match name {
            ENV_TABLE_NAME => Some("t".to_string()),
            ENV_GROUP_NAMES => Some("web".to_string()),
            ENV_FUNCTION_TIMEOUT => Some("300".to_string()),
            ENV_SWEEP_SCHEDULE => Some("rate(1 minute)".to_string()),
            _ => None,
        };
        let config = LambdaConfig::from_lookup(env).unwrap();
        assert_eq!(config.handler.intent_lease, Duration::from_secs(330));
        assert_eq!(config.handler.sweep_period, Duration::from_secs(60));
        let bad = |name: &str| match name {
            ENV_FUNCTION_TIMEOUT => Some("1000".to_string()),
            other => env(other),
        };
        assert!(matches!(
            LambdaConfig::from_lookup(bad),
            Err(InitError::InvalidVariable {
                name: ENV_FUNCTION_TIMEOUT,
                ..
            })
        ));
    }
}
