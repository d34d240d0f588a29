"""Smoke runs of every bench/ script with the tiniest sizes, so a broken benchmark fails CI.

Each script runs as the README says (`python bench/bench_X.py` from the repository root) in a fresh
interpreter without PYTHONPATH, so the scripts must find the package and tests.fakes on their own.
The figures of such tiny runs mean nothing; what is checked is that the script finishes, prints its
figures and one well-formed verdict line per target, and that each verdict agrees with its figure.

Deselect with `-m "not bench_smoke"`. They are slow by nature: every interpreter that imports
aiogram spends seconds of CPU on it, hence the generous timeouts.
"""

from __future__ import annotations

import operator
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.bench_smoke, pytest.mark.timeout(420)]

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 400.0
# verdict: <what> <figure> [unit] <op> <target> [unit]: MET|NOT MET
VERDICT_RE = re.compile(
    r"^verdict: (?P<what>.+) (?P<figure>-?\d+(?:\.\d+)?)(?: (?P<unit>[^\s\d][^\s]*))? "
    r"(?P<op><=|>=) (?P<target>-?\d+(?:\.\d+)?)(?: (?P=unit))?: (?P<result>MET|NOT MET)$"
)
OPERATORS = {"<=": operator.le, ">=": operator.ge}


def run_bench(script: str, args: str) -> str:
    """Run bench/<script> with space-separated `args` from the repository root, as the README says;
    return its stdout."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    finished = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), *args.split()],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert finished.returncode == 0, (
        f"{script} exited with {finished.returncode}\n--- stdout\n{finished.stdout[-4000:]}\n"
        f"--- stderr\n{finished.stderr[-4000:]}"
    )
    return finished.stdout


def verdicts(output: str) -> dict[str, str]:
    """`what` -> MET / NOT MET for every verdict line; each must be well formed and agree with itself."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        if not line.startswith("verdict:"):
            assert "verdict" not in line.lower(), f"a verdict not in the uniform format: {line!r}"
            continue
        match = VERDICT_RE.match(line)
        assert match, f"malformed verdict line: {line!r}"
        met = OPERATORS[match["op"]](float(match["figure"]), float(match["target"]))
        assert match["result"] == ("MET" if met else "NOT MET"), f"verdict contradicts its figure: {line!r}"
        assert match["what"] not in found, f"two verdicts for one target: {line!r}"
        found[match["what"]] = match["result"]
    return found


def assert_verdicts(output: str, expected: list[str]) -> None:
    """Exactly the expected targets have a verdict (a prefix each: some name a measured size)."""
    found = verdicts(output)
    assert len(found) == len(expected), f"verdicts {sorted(found)}, expected {expected}"
    for prefix in expected:
        assert any(what.startswith(prefix) for what in found), f"no verdict for {prefix!r} in {sorted(found)}"


def test_verdict_format_is_checked() -> None:
    """The checks above can fail: a malformed or self-contradicting line is refused."""
    assert verdicts("verdict: p99 callback->sendVideo 0.81 s <= 1 s: MET\nother line") == {
        "p99 callback->sendVideo": "MET"
    }
    with pytest.raises(AssertionError, match="contradicts"):
        verdicts("verdict: peak RSS 180.5 MB <= 150 MB: MET")
    with pytest.raises(AssertionError, match="malformed"):
        verdicts("verdict: ratio 0.88 MEETS the target")
    with pytest.raises(AssertionError, match="uniform format"):
        verdicts("  verdict: p99 0.81 s MEETS the target (<= 1 s)")


def test_bench_billing_smoke() -> None:
    """SQLite always; PostgreSQL beside it when TEST_DATABASE_URL names a server (CI starts one)."""
    pg = bool(os.environ.get("TEST_DATABASE_URL", "").strip())
    output = run_bench("bench_billing.py", "--users 100 --ledger-rows 1000 --pairs 50 --runs 1 --warmup 10")
    backends = ["SQLite", "PostgreSQL"] if pg else ["SQLite"]
    assert output.count("seeded 100 users and 1,000 ledger rows") == len(backends), output
    assert len(re.findall(r"^concurrency  1: [\d,]+ pairs/s", output, re.MULTILINE)) == len(backends), output
    assert len(re.findall(r"^concurrency 50: [\d,]+ pairs/s", output, re.MULTILINE)) == len(backends), output
    checks = output.count("ledger check: every balance equals the sum of its ledger rows")
    assert checks == len(backends), output
    if not pg:
        assert "== PostgreSQL skipped: no server" in output, output
    header = r"^  clients +" + " +".join(rf"{b} pairs/s +{b} p50 +{b} p99" for b in backends) + "$"
    assert re.search(header, output, re.MULTILINE), output
    assert re.search(r"^  50 +[\d,]+ ", output, re.MULTILINE), output
    assert_verdicts(
        output,
        [f"reserve+settle pairs/s, {b}, {m}" for b in backends for m in ("sequential", "50 concurrent")],
    )


def test_bench_kie_client_smoke() -> None:
    output = run_bench("bench_kie_client.py", "--windows 1 --window-s 1 --status-seconds 1 --calls 20")
    assert re.search(
        r"^creates: 40 in [\d.]+s under 20/1s .* ratio [\d.]+; 429s from simulator: 0$", output, re.MULTILINE
    ), output
    assert re.search(r"^status: \d+ calls .* ratio [\d.]+; 429s from simulator: 0$", output, re.MULTILINE)
    assert re.search(r"^overhead: get_status median \d+ us vs raw aiohttp \d+ us", output, re.MULTILINE)
    assert_verdicts(
        output,
        [
            "sustained creates / create limit",
            "sustained status calls / status limit",
            "429s from the simulator (creates + status calls)",
        ],
    )
    # Zero 429s is not a matter of load: the client keeps to the limits the simulator enforces.
    assert verdicts(output)["429s from the simulator (creates + status calls)"] == "MET"


def test_bench_wizard_smoke() -> None:
    output = run_bench("bench_wizard.py", "--users 5 --taps 3 --runs 1 --warmup-users 2")
    # Every tap of the real bot was a valid button and answered: 5 users x 3 taps.
    assert re.search(r"^bot   15 taps in .* invalid taps 0, failed calls 0$", output, re.MULTILINE), output
    assert re.search(r"^bare  15 taps in .* invalid taps 0, failed calls 0$", output, re.MULTILINE), output
    assert "WARNING" not in output
    assert re.search(r"^ratio bot/bare: [\d.]+", output, re.MULTILINE)
    assert_verdicts(
        output, ["wizard taps/s, bot / bare aiogram", "wizard p99 tap-to-answer, bot / bare aiogram"]
    )


def test_bench_jobs_smoke() -> None:
    """All sections in one run (each bot process pays for `import aiogram`, so as few as can be): the
    no-ffmpeg path whether or not ffmpeg is installed, so the run does not depend on it. Section 1c
    (PostgreSQL + Redis, 1 vs 2 instances) runs when TEST_DATABASE_URL and TEST_REDIS_URL are set."""
    shared = all(os.environ.get(name, "").strip() for name in ("TEST_DATABASE_URL", "TEST_REDIS_URL"))
    output = run_bench(
        "bench_jobs.py",
        "--no-ffmpeg --callback-jobs 2 --bursts 1 --polling-jobs 2 --history-jobs 8 --scale 0.02 "
        "--memory-jobs 2 --rss-seconds 0.5 --video-sizes 1 --lean",
    )
    for header in ("== 1a. ", "== 1b. ", "== 1c. ", "== 2. polling only", "== 2b. polling only",
                   "== 3a. RSS", "== 3b. peak RSS"):
        assert header in output, f"no section {header!r}:\n{output}"
    assert "2 of 2 jobs traced" in output
    assert re.search(r"^  60 s job: \d+ status calls", output, re.MULTILINE), output
    assert re.search(
        r"peak RSS [\d.]+ MB = `import aiogram` alone [\d.]+ MB \+ the bot's share -?[\d.]+ MB", output
    ), output
    assert re.search(r"^  1 MB +sendVideo +1\.0 ", output, re.MULTILINE), output
    expected = [
        "p99 callback->sendVideo without download, in-process, without ffmpeg",
        "p99 callback->sendVideo (with the ",  # the download's size in kB follows
        "mean delay KIE finished->bot noticed, polling only",
        "status calls for a 60 s job, polling only",
        "status calls for a lone 60 s job, polling only",
        "delay KIE finished->bot noticed, a lone 60 s job",
        "bot's share of peak RSS over import aiogram with 2 jobs in flight",
    ]
    if shared:
        for instances in (1, 2):
            line = rf"^  {instances} instance\(s\): 2 of 2 jobs traced; .* sendVideo calls 2; "
            assert re.search(line, output, re.MULTILINE), output
        assert re.search(r"^  phase \(ms\) +1x p50 +1x p99 +2x p50 +2x p99$", output, re.MULTILINE), output
        expected += [
            "p99 callback->sendVideo, python -m bot x 1 on PostgreSQL + Redis",
            "p99 callback->sendVideo, python -m bot x 2 on PostgreSQL + Redis",
            "videos sent more than once, 1 and 2 instances",
        ]
        # Not a matter of load: each job's video goes out once, whichever instance has the callback.
        assert verdicts(output)["videos sent more than once, 1 and 2 instances"] == "MET"
    else:
        assert re.search(r"^== 1c\. .*: skipped, ", output, re.MULTILINE), output
    assert_verdicts(output, expected)


def test_bench_taps_smoke() -> None:
    output = run_bench("bench_taps.py", "--models 2 --languages en,ru")
    line = r"^taps to Confirm: new user \d+ \(target <=5\), returning user \d+ \(target <=3\)"
    assert re.search(line, output, re.MULTILINE), output
    assert_verdicts(output, ["taps to Confirm, new user", "taps to Confirm, returning user"])
    # Not a matter of load: the wizard's steps decide the count.
    assert set(verdicts(output).values()) == {"MET"}


def test_bench_shaping_smoke() -> None:
    output = run_bench("bench_shaping.py", "--jobs 12 --refresh 1")
    for header in ("== 1. 12 jobs finishing together", "== 2. 12 jobs finishing together"):
        assert header in output, f"no section {header!r}:\n{output}"
    runs = re.findall(r"^  12 videos; last [\d.]+ s after KIE finished$", output, re.MULTILINE)
    assert len(runs) == 2, output
    assert re.search(r"^  429s from the fake: \d+ over the whole run", output, re.MULTILINE), output
    assert_verdicts(
        output,
        [
            "Telegram 429s, 12 jobs finishing together with status refresh on",
            "p99 KIE finished->sendVideo paced / max(unpaced p99, 12 / 25 per s), 12 jobs",
        ],
    )
    # Zero 429s is not a matter of load: the bot keeps to the limits the fake enforces.
    assert verdicts(output)["Telegram 429s, 12 jobs finishing together with status refresh on"] == "MET"
