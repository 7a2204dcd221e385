"""What the tests share: real servers on 127.0.0.1, fixtures and helpers, each once."""
