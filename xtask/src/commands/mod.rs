//! One module per subcommand.

pub mod bench;
pub mod convert_weights;
pub mod demo;
pub mod embed;
pub mod eval;
pub mod index;
pub mod list_models;
pub mod make_shards;
pub mod predict;
pub mod preprocess;
pub mod search;
pub mod serve;
pub mod tokenize;
pub mod train;
