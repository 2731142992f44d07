//! Pooled `rgba32float` textures: scratch space for kernels that read their operands through the texture
//! unit instead of storage buffers.
//!
//! Why: llvmpipe/lavapipe (Mesa 22.3) executes every storage-buffer load lane by lane, while texel fetches
//! are SIMD gathers of four floats (measurements in BENCHMARKS.md), so the matmul for software adapters
//! stages both operands in textures first. A texture lives for a few dispatches of one execute: a kernel
//! takes it with [`crate::engine::Recorder::texture`], a pack dispatch writes it, the consumer reads it, and
//! it goes back to the pool when the handle drops. Reusing it for a later dispatch of the same compute pass
//! is safe for the same reason it is for buffers: wgpu orders the dispatches of a pass and inserts the
//! barriers between a storage write and a sampled read. Textures are pooled by exact size, since the shapes
//! of a training loop repeat every step.
//!
//! Every texture is a 2-D array (`texture_2d_array`): one layer per matrix of a batch, so a batch of
//! matrices needs no taller texture than one matrix (`max_texture_dimension_2d` is 16384 on lavapipe,
//! `max_texture_array_layers` 2048).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::free_list::FreeList;
use crate::usage::Usage;

/// The one texel format: four f32 per texel, writable as a storage texture, readable with `textureLoad`.
pub const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba32Float;

/// Floats per texel of [`FORMAT`].
pub const TEXEL_FLOATS: usize = 4;

/// Width and height in texels, and layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size {
    pub width: u32,
    pub height: u32,
    pub layers: u32,
}

#[derive(Clone, Debug)]
struct Pooled {
    id: u64,
    texture: wgpu::Texture,
    view: wgpu::TextureView,
}

/// Bytes of a texture of `s` ([`FORMAT`]: 16 per texel).
fn bytes(s: Size) -> u64 {
    u64::from(s.width) * u64::from(s.height) * u64::from(s.layers) * 16
}

fn destroy(evicted: Vec<Pooled>) {
    for p in evicted {
        p.texture.destroy();
    }
}

/// The texture pool of one backend.
#[derive(Debug)]
pub struct TexturePool {
    device: wgpu::Device,
    free: Mutex<FreeList<Size, Pooled>>,
    next_id: AtomicU64,
    created: AtomicU64,
    /// Bytes in use, shared with the buffer pool.
    usage: Arc<Usage>,
    /// The engine's execute counter, stamping released textures (see [`FreeList`]).
    epoch: Arc<AtomicU64>,
}

impl TexturePool {
    pub fn new(device: wgpu::Device, usage: Arc<Usage>, epoch: Arc<AtomicU64>) -> Arc<TexturePool> {
        Arc::new(TexturePool {
            device,
            free: Mutex::new(FreeList::new(None)),
            next_id: AtomicU64::new(1),
            created: AtomicU64::new(0),
            usage,
            epoch,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FreeList<Size, Pooled>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Destroys cached textures unused since before execute `stamp - MAX_AGE`.
    pub fn expire(&self, stamp: u64) {
        let evicted = self.lock().expire(stamp);
        destroy(evicted);
    }

    /// Destroys every cached texture.
    pub fn release(&self) {
        let evicted = self.lock().clear();
        destroy(evicted);
    }

    /// Bytes in cached textures.
    pub fn cached_bytes(&self) -> u64 {
        self.lock().bytes()
    }

    /// A texture of `size`, reused when one of that size is free. The caller checks the size against the
    /// device limits ([`crate::engine::Recorder::texture`] does).
    pub fn take(self: &Arc<Self>, size: Size) -> Texture {
        let Size {
            width,
            height,
            layers,
        } = size;
        self.usage.add(bytes(size));
        let reused = self.lock().pop(&size);
        let pooled = reused.unwrap_or_else(|| {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.created.fetch_add(1, Ordering::Relaxed);
            let texture = self.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(&format!("wgrad texture {width}x{height}x{layers} #{id}")),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: layers,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: FORMAT,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
                view_formats: &[],
            });
            // explicit: a one-layer texture's default view would be D2, not D2Array
            let view = texture.create_view(&wgpu::TextureViewDescriptor {
                dimension: Some(wgpu::TextureViewDimension::D2Array),
                ..Default::default()
            });
            Pooled { id, texture, view }
        });
        Texture {
            pooled: Some(pooled),
            size,
            pool: self.clone(),
        }
    }

    /// Textures created so far (a steady-state loop stops creating them).
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }
}

/// A pooled texture; returns to its pool on drop.
#[derive(Debug)]
pub struct Texture {
    pooled: Option<Pooled>,
    size: Size,
    pool: Arc<TexturePool>,
}

impl Texture {
    fn pooled(&self) -> &Pooled {
        self.pooled.as_ref().expect("only taken in drop")
    }
    /// Stable id, part of the bind group cache key.
    pub fn id(&self) -> u64 {
        self.pooled().id
    }
    pub fn view(&self) -> &wgpu::TextureView {
        &self.pooled().view
    }
    pub fn size(&self) -> Size {
        self.size
    }
}

impl Drop for Texture {
    fn drop(&mut self) {
        if let Some(p) = self.pooled.take() {
            let s = self.size;
            self.pool.usage.sub(bytes(s));
            let stamp = self.pool.epoch.load(Ordering::Relaxed);
            let evicted = self.pool.lock().push(s, p, bytes(s), stamp);
            destroy(evicted);
        }
    }
}
