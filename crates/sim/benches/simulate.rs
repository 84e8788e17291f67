//! The simulator at scale: 1,000 and 10,000 instances (launch and terminate) under default
//! faults. The 10,000-instance run must take under 10 s on a 2-core machine in a release build;
//! `scripts/bench-simulate.sh` times the release binary the same way.

use asg_lifecycle_sim::{Faults, SimConfig, simulate};
use criterion::{Criterion, criterion_group, criterion_main};

/// mimalloc, as in the binaries (`crates/cli`, `crates/lambda`): the handler's small, short-lived
/// allocations cost about half of glibc's.
#[global_allocator]
static GLOBAL: asg_lifecycle_alloc::Allocator = asg_lifecycle_alloc::Allocator;

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    for instances in [1_000, 10_000] {
        group.bench_function(format!("{instances} instances, default faults"), |b| {
            b.iter(|| {
                let report = simulate(SimConfig::new(1, instances).with_faults(Faults::Default));
                assert!(report.passed(), "{}", report.render());
                report
            });
        });
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
