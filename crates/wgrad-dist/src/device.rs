//! Which device each rank trains on.
//!
//! One process per GPU. A rank picks its adapter from its rank on the host ([`Communicator::local_rank`],
//! found by MPI from the processes that share the host's memory, so it works with any launcher):
//! - `WGRAD_ADAPTER=<name substring>` set (by `mpirun -x`, or per rank with Open MPI's MPMD syntax
//!   `mpirun -np 1 -x WGRAD_ADAPTER=A100 prog : -np 1 -x WGRAD_ADAPTER=V100 prog`): that adapter, as in a
//!   single process;
//! - otherwise the adapters of the best kind on the host (discrete GPUs, else integrated, …, else software)
//!   are listed in wgpu's order and local rank `r` takes the `r mod n`-th.
//!
//! wgrad-wgpu chooses adapters by name, so two identical GPUs (same name) cannot yet be told apart: every
//! rank of such a host gets the first. [`device_for_rank`] says so on stderr; giving wgrad-wgpu's
//! `Options` an adapter index is the fix (until then, hide the other GPUs from each rank with the driver's
//! own device-selection variable in a wrapper script).

use wgrad_graph::{Device, Result};
use wgrad_wgpu::device::{list_adapters, Options};
use wgrad_wgpu::WgpuBackend;

use crate::comm::Communicator;

/// The backend a rank trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The CPU reference backend (exact, slow; one per process).
    Cpu,
    /// A wgpu adapter, chosen per rank (see the module docs).
    Wgpu,
}

/// Preference of an adapter kind, best first (as wgrad-wgpu sorts them).
fn kind_rank(t: wgpu::DeviceType) -> u32 {
    use wgpu::DeviceType as D;
    match t {
        D::DiscreteGpu => 0,
        D::IntegratedGpu => 1,
        D::VirtualGpu => 2,
        D::Other => 3,
        D::Cpu => 4,
    }
}

/// This rank's device (see the module docs).
///
/// # Errors
/// When no adapter is found or the device cannot be created.
pub fn device_for_rank(comm: &dyn Communicator, backend: Backend) -> Result<Device> {
    match backend {
        Backend::Cpu => Ok(Device::new(wgrad_cpu::CpuBackend)),
        Backend::Wgpu => {
            let adapter = if std::env::var_os("WGRAD_ADAPTER").is_some() {
                None
            } else {
                adapter_for(comm.local_rank(), comm.local_size())?
            };
            let opts = Options {
                adapter,
                ..Options::default()
            };
            Ok(Device::new(WgpuBackend::with_options(&opts)?))
        }
    }
}

/// The name of the adapter local rank `local_rank` takes, or `None` to let wgrad-wgpu choose.
fn adapter_for(local_rank: usize, local_size: usize) -> Result<Option<String>> {
    let mut adapters = list_adapters()?;
    adapters.sort_by_key(|a| {
        (
            kind_rank(a.device_type),
            u32::from(a.backend == wgpu::Backend::Gl),
        )
    });
    let Some(best) = adapters.first() else {
        return Ok(None);
    };
    let key = (kind_rank(best.device_type), best.backend);
    let names: Vec<String> = adapters
        .iter()
        .filter(|a| (kind_rank(a.device_type), a.backend) == key)
        .map(|a| a.name.clone())
        .collect();
    let name = names[local_rank % names.len()].clone();
    let same = names.iter().filter(|n| **n == name).count();
    if same > 1 && local_rank == 0 && local_size > 1 {
        eprintln!(
            "wgrad-dist: {same} adapters are named {name:?}; wgrad-wgpu picks adapters by name, so the \
             ranks of this host share the first (see wgrad_dist::device)"
        );
    }
    Ok(Some(name))
}
