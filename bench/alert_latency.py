"""How long from a story appearing in a feed to its alert reaching the receiver, with the real
daemon (`monitor run`) on 127.0.0.1 (an alert should arrive within a minute of the poll that found the story).

    python bench/alert_latency.py [--samples 5] [--interval 5s]

Prints each sample and the worst as a ratio of the 60 s target (below 1.0 meets it). The feed is
polled every --interval, so a sample is that wait (0 to one interval) plus the delivery itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from feedserver import FeedServer, published_now, rss  # noqa: E402
from helpers import default_rules_section  # noqa: E402
from servers import WebhookReceiver  # noqa: E402

TARGET = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--interval", default="5s")
    args = parser.parse_args()
    feeds, receiver = FeedServer(), WebhookReceiver()
    feeds.start()
    receiver.start()
    items: list[dict[str, str]] = []

    def publish(i: int) -> None:
        items.insert(0, {"title": f"Police shut down pirate IPTV service, case {i}",
                         "link": feeds.url(f"/news/{i}"), "date": published_now(),
                         "summary": "Officers seized servers and arrested three suspects."})
        feeds.put("/rss.xml", rss("Bench", items), "application/rss+xml")

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.toml"
        publish(0)
        config.write_text(f"""[monitor]
interval = "{args.interval}"
[fetch]
allow_private_networks = true
fetch_pages = false
[[feeds]]
url = "{feeds.url('/rss.xml')}"
[[notifiers]]
name = "hook"
type = "webhook"
url = "{receiver.url}"
{default_rules_section().replace('notifiers = ["email", "webhook"]', 'notifiers = []')}""")
        log = open(Path(folder) / "daemon.log", "w")
        daemon = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                                  stdout=log, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, PYTHONPATH=str(REPO)))
        samples: list[float] = []
        try:
            receiver.wait_for(1, timeout=60)  # the first poll, and its alert
            for i in range(1, args.samples + 1):
                start = time.monotonic()
                publish(i)
                receiver.wait_for(i + 1, timeout=120)
                samples.append(time.monotonic() - start)
                print(f"sample {i}: {samples[-1]:.1f} s")
        finally:
            daemon.terminate()
            daemon.wait(30)
            log.close()
            feeds.stop()
            receiver.stop()
    worst = max(samples)
    print(f"median {statistics.median(samples):.1f} s, worst {worst:.1f} s with polls every "
          f"{args.interval}; worst / {TARGET:.0f} s target = {worst / TARGET:.2f}")


if __name__ == "__main__":
    main()
