//! The contract: what `#[depends]` expands against and what users name in signatures.
//!
//! - [`meta`]: a dependency's static description (`Dependency`, `DepMeta`, `Param`) and
//!   [`Args`](meta::Args), through which a started function takes its arguments;
//! - [`scope`], [`outcome`]: how long a value lives and how its request ended;
//! - [`provide`]: the `Yield` handshake of generator dependencies;
//! - [`slot`]: where values live during a request and at app scope, and the `Held`/`HeldMut`
//!   handles that borrow them; [`held_stream`]: a stream owning such a handle and a stream
//!   borrowing its value;
//! - [`request`], [`background`]: the request head inputs are extracted from, the
//!   `FromRequest` traits, and the `BackgroundTasks` list;
//! - [`body`]: a request body read as a stream (its chunks, or the `BodyError` it can end with);
//! - [`doc`]: what the OpenAPI document reads off a function (its inputs' kinds, its output,
//!   its doc comment), with the probes that find a type's JSON Schema.
//!
//! Uses only the response layer below it (an outcome carries an `HttpError`).

pub(crate) mod background;
pub(crate) mod body;
pub(crate) mod doc;
pub(crate) mod held_stream;
pub(crate) mod meta;
pub(crate) mod outcome;
pub(crate) mod provide;
pub(crate) mod request;
pub(crate) mod request_id;
pub(crate) mod scope;
pub(crate) mod set_headers;
pub(crate) mod slot;
