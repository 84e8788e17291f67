//! Where the observing subcommands read records from: a DynamoDB table or a JSON store file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::machine::{FileModel, Machine};
use asg_lifecycle::status::GroupMembership;
use asg_lifecycle::store::{MemoryStore, StateStore};
use asg_lifecycle::watch::{ChangeFeed, MemoryFeed};

use crate::cloud::{self, Endpoint};

/// Where records come from (one of `--table` and `--store`), and which groups.
#[derive(clap::Args, Clone, Debug)]
pub struct SourceArgs {
    /// The DynamoDB table of the instance records.
    #[arg(long, env = "ASG_LIFECYCLE_TABLE")]
    pub table: Option<String>,
    /// A JSON store file (the form `invoke` writes) instead of a table (it wins over
    /// `--table`, so that it overrides ASG_LIFECYCLE_TABLE); read again every check.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Auto Scaling groups (repeatable, or comma-separated): only these; on a table, the groups
    /// whose active records are listed (the index is partitioned by group: no Scan).
    #[arg(
        long = "group",
        env = "ASG_LIFECYCLE_GROUPS",
        value_delimiter = ',',
        value_name = "GROUP"
    )]
    pub groups: Vec<String>,
}

impl SourceArgs {
    /// True when a table or a store file was named.
    pub fn is_set(&self) -> bool {
        self.table.is_some() || self.store.is_some()
    }
}

/// An opened source of records.
pub enum Source {
    /// A DynamoDB table.
    Table(Box<cloud::Table>),
    /// A JSON store file, loaded into memory.
    File {
        /// The file.
        path: PathBuf,
        /// Its records.
        store: Arc<MemoryStore>,
        /// The groups named.
        groups: Vec<String>,
    },
}

impl Source {
    /// Opens the source named by the arguments (check [`SourceArgs::is_set`] first: a missing
    /// source is a usage error).
    pub async fn open(args: &SourceArgs, at: Endpoint<'_>) -> Result<Self, String> {
        match (&args.table, &args.store) {
            (Some(name), None) => Ok(Self::Table(Box::new(
                cloud::Table::open(name, &args.groups, at).await?,
            ))),
            (_, Some(path)) => {
                let store = MemoryStore::load(path).map_err(|e| e.to_string())?;
                Ok(Self::File {
                    path: path.clone(),
                    store: Arc::new(store),
                    groups: args.groups.clone(),
                })
            }
            (None, None) => Err(NO_SOURCE.into()),
        }
    }

    /// The records.
    ///
    /// The records: the DynamoDB table (queried per group on its active index) or the store
    /// file's in-memory copy. This is the one place the store is constructed.
    pub fn store(&self) -> Result<Arc<dyn StateStore>, String> {
        match self {
            Self::File { store, .. } => Ok(store.clone()),
            Self::Table(table) => Ok(table.store()),
        }
    }

    /// True for a table.
    pub fn is_table(&self) -> bool {
        matches!(self, Self::Table(_))
    }

    /// The groups: those named; on a table without them, those the table knows (registered by
    /// the handler's sweep). Empty on a file without `--group`: every record.
    pub fn groups(&self) -> &[String] {
        match self {
            Self::File { groups, .. } => groups,
            Self::Table(table) => table.groups(),
        }
    }

    /// A table is listed group by group (its index is partitioned by group and never scanned):
    /// without groups named or known to the table, listing it is a usage error (exit 64).
    pub fn require_groups(&self) -> Result<(), std::process::ExitCode> {
        if matches!(self, Self::Table(_)) && self.groups().is_empty() {
            return Err(crate::exit::fail(
                crate::exit::USAGE,
                "the table knows no group yet (the handler registers the groups it sweeps at \
                 its first sweep) and none was named: a table is listed group by group, never \
                 scanned; name them with --group GROUP (repeatable) or \
                 ASG_LIFECYCLE_GROUPS=GROUP1,GROUP2",
            ));
        }
        Ok(())
    }

    /// The change feed: the table's stream, or the store file's change log.
    pub fn feed(&self) -> Arc<dyn ChangeFeed> {
        match self {
            Self::File { store, .. } => Arc::new(MemoryFeed::new(store.clone())),
            Self::Table(table) => table.feed(),
        }
    }

    /// Auto Scaling group membership (a table only: a store file has no group behind it).
    pub fn membership(&self) -> Option<Arc<dyn GroupMembership>> {
        match self {
            Self::File { .. } => None,
            Self::Table(table) => Some(table.membership()),
        }
    }

    /// For a store file, reads the file again every `interval` and writes the records that
    /// changed into the in-memory store (so that waits and watches see other processes' writes).
    /// Records removed from the file are not removed.
    pub fn follow_file(&self, interval: Duration) {
        if let Self::File { path, store, .. } = self {
            let (path, store) = (path.clone(), store.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    reload(&path, &store);
                }
            });
        }
    }
}

fn reload(path: &Path, store: &MemoryStore) {
    let Ok(fresh) = MemoryStore::load(path) else {
        // A file caught mid-write (or removed): the next round reads it again.
        return;
    };
    let current = store.all();
    for record in fresh.all() {
        if !current.contains(&record) {
            store.put(record);
        }
    }
}

/// The model: `--transitions FILE`, or the embedded example.
pub fn load_machine(path: Option<&Path>) -> Result<Machine, String> {
    match path {
        Some(path) => FileModel::load(path)
            .and_then(|m| Machine::from_model(&m))
            .map_err(|r| r.to_string()),
        None => Ok(Machine::example()),
    }
}

/// Parses a duration flag (`500ms`, `30s`, `15m`, `1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text)
}

/// The message of a missing source (a usage error).
pub const NO_SOURCE: &str = "name the records' source with --table TABLE or --store FILE";

/// Opens the source for a subcommand: exit 64 (usage) when none was named, 3 when it cannot be
/// opened.
pub async fn open(args: &SourceArgs, at: Endpoint<'_>) -> Result<Source, std::process::ExitCode> {
    if !args.is_set() {
        return Err(crate::exit::fail(crate::exit::USAGE, NO_SOURCE));
    }
    Source::open(args, at)
        .await
        .map_err(|e| crate::exit::fail(crate::exit::ERROR, e))
}

/// [`open`], then [`Source::require_groups`]: for the commands that list the active records.
pub async fn open_listed(
    args: &SourceArgs,
    at: Endpoint<'_>,
) -> Result<Source, std::process::ExitCode> {
    let source = open(args, at).await?;
    source.require_groups()?;
    Ok(source)
}
