//! The options every subcommand takes, as the AWS CLI's global options: `--output`, `--query`,
//! `--region`, `--endpoint-url`, `--profile`.

use crate::cloud::Endpoint;
use crate::output::{Format, Printer};

/// Options accepted before or after any subcommand.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Global {
    /// Structured output: `json` (one document per line), `text` (tab-separated, as the AWS
    /// CLI's) or `table` (aligned). Default: the command's own human-readable form.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_enum,
        value_name = "FORMAT"
    )]
    pub output: Option<Format>,
    /// A JMESPath expression applied to the JSON output (implies `--output json` when no
    /// format is given); in a stream, a document whose result is null is left out.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "JMESPATH"
    )]
    pub query: Option<String>,
    /// The AWS region (default: from the profile).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "AWS_REGION",
        value_name = "REGION"
    )]
    pub region: Option<String>,
    /// Send every AWS request here instead (moto, DynamoDB Local).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "AWS_ENDPOINT_URL",
        value_name = "URL"
    )]
    pub endpoint_url: Option<String>,
    /// The named profile of the shared AWS config and credentials files.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "AWS_PROFILE",
        value_name = "NAME"
    )]
    pub profile: Option<String>,
}

impl Global {
    /// Where AWS is reached.
    pub fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            url: self.endpoint_url.as_deref(),
            region: self.region.as_deref(),
            profile: self.profile.as_deref(),
        }
    }

    /// The printer of `--output` and `--query`.
    ///
    /// # Errors
    /// The query is not a JMESPath expression.
    pub fn printer(&self) -> Result<Printer, String> {
        Printer::new(self.output, self.query.as_deref())
    }
}
