//! One module per subcommand.

pub mod tokenize;
