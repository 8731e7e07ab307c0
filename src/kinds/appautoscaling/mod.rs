//! `appautoscaling/ecs_service_scaling`.

mod ecs_service_scaling;

pub use ecs_service_scaling::*;
