//! Selection of the burn device that trains a run.

use burn::tensor::Device;

use crate::config::BackendKind;
use crate::error::{Error, Result};

/// Returns the device for a backend, without autodiff.
///
/// `wgpu` needs a build with the `wgpu` feature and a graphics adapter (a GPU, or a CPU Vulkan
/// driver such as Mesa's lavapipe).
pub fn device(kind: BackendKind) -> Result<Device> {
    match kind {
        BackendKind::Cpu => Ok(Device::flex()),
        BackendKind::Wgpu => wgpu_device(),
    }
}

/// A short description of the device for logs and provenance.
pub fn describe(kind: BackendKind) -> String {
    match kind {
        BackendKind::Cpu => format!("flex (CPU, {} threads)", rayon::current_num_threads()),
        BackendKind::Wgpu => "wgpu (default adapter)".to_owned(),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    use burn::tensor::{DeviceKind, Tensor};

    let device = Device::wgpu(DeviceKind::DefaultDevice);
    // The device is created lazily; a first operation finds out whether an adapter exists.
    let probe = std::panic::catch_unwind(|| {
        let ones = Tensor::<1>::ones([4], &device);
        ones.sum().into_scalar::<f32>()
    });
    match probe {
        Ok(sum) if (sum - 4.0).abs() < 1e-6 => Ok(device),
        Ok(sum) => Err(Error::Backend {
            backend: "wgpu".into(),
            reason: format!("a test sum of four ones returned {sum}; use backend = \"cpu\""),
        }),
        Err(_) => Err(Error::Backend {
            backend: "wgpu".into(),
            reason: "no graphics adapter was found; install a GPU driver or a CPU Vulkan driver \
                     (Debian: `apt-get install mesa-vulkan-drivers`), or use backend = \"cpu\""
                .into(),
        }),
    }
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    Err(Error::Backend {
        backend: "wgpu".into(),
        reason: "this binary was built without wgpu support; rebuild with \
                 `cargo run --release --features wgpu -- run ...`, or use backend = \"cpu\""
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn wgpu_without_feature_names_fix() {
        let err = device(BackendKind::Wgpu).unwrap_err().to_string();
        assert!(err.contains("--features wgpu"), "{err}");
    }

    #[test]
    fn cpu_device_runs() {
        let device = device(BackendKind::Cpu).unwrap();
        let sum = burn::tensor::Tensor::<1>::ones([3], &device)
            .sum()
            .into_scalar::<f32>();
        assert_eq!(sum, 3.0);
    }
}
