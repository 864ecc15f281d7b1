"""The `featurebench` command (`main`), one module per subcommand that has its own options."""
