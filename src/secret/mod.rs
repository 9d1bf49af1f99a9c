//! Secret values and (later) the Kubernetes Secret that carries a client's
//! credentials.

pub mod value;

pub use value::ClientSecret;
