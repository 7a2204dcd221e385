"""monitor: a news-feed monitoring and alerting daemon for piracy-enforcement stories."""

__version__ = "0.1.0"
