"""Locust users for the record tests: each looks up random items in tests/record_app/webapp.py."""

import hashlib
import random

from locust import HttpUser, constant, task

import qprof.locust  # noqa: F401 - adds --qprof-db, --qprof-slo … and records the window


class Shopper(HttpUser):
    wait_time = constant(0.05)

    @task
    def lookup(self) -> None:
        code = hashlib.md5(str(random.randint(1, 20000)).encode()).hexdigest()
        self.client.get(f"/item?code={code}", name="/item")
