//! Where the observing subcommands read records from: a DynamoDB table or a JSON store file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::machine::{FileModel, Machine};
use asg_lifecycle::status::GroupMembership;
use asg_lifecycle::store::{MemoryStore, StateStore};
use asg_lifecycle::watch::{ChangeFeed, MemoryFeed};

use crate::cloud::{self, Endpoint};

/// Where records come from (one of `--table` and `--store`).
#[derive(clap::Args, Clone, Debug)]
pub struct SourceArgs {
    /// The DynamoDB table of the instance records.
    #[arg(long, conflicts_with = "store")]
    pub table: Option<String>,
    /// A JSON store file (the form `invoke` writes) instead of a table; read again every check.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Endpoint URL for DynamoDB, DynamoDB Streams and Auto Scaling (e.g. a local moto_server).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// AWS region (default: from the environment or profile).
    #[arg(long)]
    pub region: Option<String>,
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
    },
}

impl Source {
    /// Opens the source named by the arguments.
    pub async fn open(args: &SourceArgs) -> Result<Self, String> {
        match (&args.table, &args.store) {
            (Some(name), _) => {
                let at = Endpoint {
                    url: args.endpoint_url.as_deref(),
                    region: args.region.as_deref(),
                };
                Ok(Self::Table(Box::new(cloud::Table::open(name, at).await?)))
            }
            (None, Some(path)) => {
                let store = MemoryStore::load(path).map_err(|e| e.to_string())?;
                Ok(Self::File {
                    path: path.clone(),
                    store: Arc::new(store),
                })
            }
            (None, None) => {
                Err("name the records' source with --table TABLE or --store FILE".into())
            }
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
        if let Self::File { path, store } = self {
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

/// Parses `15m`, `30s`, ...
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    asg_lifecycle::machine::parse_duration(text)
}
