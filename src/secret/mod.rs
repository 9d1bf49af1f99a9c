//! Secret values and the Kubernetes Secret that carries a client's credentials.

pub mod mac;
pub mod observe;
pub mod render;
pub mod shape;
pub mod template;
pub mod value;

pub use value::ClientSecret;
