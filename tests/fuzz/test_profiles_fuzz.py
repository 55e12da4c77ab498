"""Profile files (probe/profiles.py) as a careless or hostile author might write them: arbitrary
text, and real profiles with fields replaced by arbitrary values. Loading ends in a Profile or a
ProfileError (file, line, field), never another exception."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from lanprobe.errors import ProfileError
from lanprobe.profiles import dump_yaml, load_profile, load_yaml

from tests.fuzz.common import FUZZ_IO

PROFILES = Path(__file__).resolve().parents[2] / "lab" / "profiles"  # over the built-in set
BASES = [load_yaml(p).data for p in sorted(PROFILES.glob("*.yaml"))]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=30),
    st.sampled_from(["10:20:30", "on", "0x1F", "1e400", "2031-12-31", "~", "*", "&a", "{ip}"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_profiles(draw: st.DrawFn) -> str:
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    data.pop("extends", None)  # no reading of other files from the fuzzer
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            parent[path[-1]] = draw(values)
        elif isinstance(parent, dict):
            parent.pop(path[-1])
    return dump_yaml(data)


texts = st.one_of(
    st.text(max_size=400),
    mutated_profiles(),
    st.sampled_from(
        # 600 levels already pass the YAML parser's recursion limit (5000 took 6 s to refuse)
        ["[" * 600 + "]" * 600, "a: &x [*x]", "id: x\nid: y\n", "- 1\n- 2\n", "\ufeffid: a\n",
         "id: !!python/object:os.system x\n", "id: x\nextends: x\n", "id: x\nports: {}\n"]
    ),
)  # fmt: skip


@FUZZ_IO
@given(texts)
def test_load_profile_only_profile_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            # The real profiles directory resolves `extends:` ids and credential lists.
            loaded = load_profile(path, profiles_dir=PROFILES)
        except ProfileError as exc:
            assert str(exc)
            return
        assert loaded.profile.id
