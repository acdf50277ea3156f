"""Which instances a stage probes: the service in preflight, the canary while it takes traffic, the service
and every instance after the rolling deploy and after launch."""

from __future__ import annotations

from dataclasses import dataclass

from golive.config import Environment


@dataclass(frozen=True)
class Target:
    """A named base URL to probe; ``url`` is None when the environment does not configure it."""

    name: str
    url: str | None
    missing: str = ""

    def endpoint(self, path: str) -> str:
        assert self.url is not None
        return self.url.rstrip("/") + path


def stage_targets(env: Environment, stage: str | None) -> list[Target]:
    app = env.app
    service = Target("service", str(app.base_url))
    instances = [Target(f"instance-{n}", str(url)) for n, url in enumerate(app.instances, start=1)]
    canary = Target("canary", str(app.canary_url) if app.canary_url else None, "app.canary_url is not set")
    match stage:
        case "preflight":
            return [service]
        case "canary":
            return [canary]
        case "smoke" | "postlaunch":
            return [service, *instances]
    return [service, *instances, canary]
