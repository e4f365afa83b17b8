"""Small instrumented applications and the `make demo` driver."""
