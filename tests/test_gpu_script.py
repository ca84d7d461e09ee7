"""benchmarks/gpu.sh without a GPU: its options, the wheel install it asks pip for, and the order of its runs, with a
stand-in interpreter that records what it is asked to run (the real CPU run takes minutes: BENCHMARKS.md)."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.sh"


def _fake_python(tmp_path: Path, has_pydantic: bool) -> tuple[Path, Path]:
    """An executable that logs its arguments, one call a line, and fails only `import pydantic` when asked to."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "python"
    fake.write_text("#!/usr/bin/env bash\n"
                    f'echo "$*" >> "{log}"\n'
                    f'if [[ "$*" == "-c import pydantic" ]]; then exit {0 if has_pydantic else 1}; fi\n'
                    "cat > /dev/null\n")  # the here-documents
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake, log


def _run(tmp_path: Path, fake: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": str(fake)}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_an_unknown_option_is_refused(tmp_path):
    fake, _ = _fake_python(tmp_path, True)
    result = _run(tmp_path, fake, "--bogus")
    assert result.returncode == 2 and "unknown option --bogus" in result.stderr


def test_missing_pydantic_without_wheels_names_the_option(tmp_path):
    fake, log = _fake_python(tmp_path, False)
    result = _run(tmp_path, fake, "--cpu-only")
    assert result.returncode == 2 and "--wheels DIR" in result.stderr
    assert "pip" not in log.read_text()


@pytest.mark.parametrize("has_pydantic", [False, True])
def test_cpu_only_installs_from_the_wheels_then_runs_the_cpu_parts(tmp_path, has_pydantic):
    fake, log = _fake_python(tmp_path, has_pydantic)
    wheels = tmp_path / "wheels"
    result = _run(tmp_path, fake, "--cpu-only", "--wheels", str(wheels), "--set", "I.12.1", "--trials", "1",
                  "--n-jobs", "1", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    pip = [c for c in calls if c.startswith("-m pip install")]
    if has_pydantic:
        assert not pip
    else:
        assert len(pip) == 1 and f"--no-index --find-links {wheels} --target" in pip[0]
        assert pip[0].endswith("pydantic pydantic-core annotated-types typing-inspection typing-extensions")
    runs = [c for c in calls if c.startswith("-m ") and not c.startswith("-m pip")]
    assert runs == ["-m benchmarks.profile_step --device cpu",
                    "-m lies.cli benchmark --set I.12.1 --trials 1 --ablations none --peers loglinear --device cpu "
                    f"--n-jobs 1 --out {tmp_path / 'out'}/cpu -q"]
    assert not any(c.startswith("-m pytest") or "--device cuda" in c or "torch.cuda" in c for c in calls)
