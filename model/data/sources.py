"""The Debian packages the corpus may use, the tools that synthesise speech and music, and fetching.

Only the packages listed here enter the corpus (issue 4); others are reserved for independent
evaluation. Packages are downloaded with `apt-get download` and unpacked with `dpkg -x`, never
installed.
"""
from __future__ import annotations

import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from model.audio import AUDIO_SUFFIXES


@dataclass(frozen=True)
class Package:
    """A source package: its name and the licences its copyright file lists for the sounds used."""

    name: str
    licence: str


PACKAGES: tuple[Package, ...] = (
    Package("sound-theme-freedesktop", "CC-BY-SA-3.0, CC-BY-3.0, GPL-2+"),
    Package("yaru-theme-sound", "CC-BY-SA-4.0"),
    Package("oxygen-sounds", "LGPL-3.0-or-later"),
    Package("deepin-sound-theme", "GPL-3+"),
    Package("bucklespring-data", "GPL-2+"),
    Package("minetest-data", "CC-BY-SA-3.0, CC0, MIT, LGPL-2.1+"),
    Package("etw-data", "GPL-2+"),
    Package("lmms-common", "GPL-2+, LGPL-2.1+"),
    Package("sonic-pi-samples", "CC0, CC-BY-SA-4.0"),
    Package("scorched3d-data", "GPL-2+, CC-BY-SA-3.0, public domain"),
    Package("lugaru-data", "CC-BY-SA-3.0, CC-BY-SA-4.0, GPL-2+"),
    Package("klettres-data", "GPL-2+"),
    Package("lincity-ng-data", "GPL-2+"),
    Package("ktuberling-data", "GPL-2+"),
    Package("searchandrescue-data", "GPL-2"),
    Package("hydrogen-drumkits", "GPL-2+, CC-BY-3.0, CC0"),
    Package("hydrogen-drumkits-effects", "GPL-2+, CC-BY-3.0"),
    Package("hedgewars-data", "GPL-2, GFDL-1.3"),
    Package("wesnoth-1.16-data", "GPL-2+"),
    Package("tuxpaint-stamps-default", "GPL-2"),
    Package("megaglest-data", "CC-BY-SA-3.0, GPL-2+"),
    Package("widelands-data", "GPL-2+, CC-BY-SA-3.0"),
    Package("supertuxkart-data", "CC-BY-SA-3.0, CC-BY-SA-4.0, CC0, CC-BY-3.0"),
    Package("redeclipse-data", "CC-BY-SA-3.0, CC-BY-3.0, CC0"),
    Package("0ad-data", "CC-BY-SA-3.0"),
    Package("flightgear-data-base", "GPL-2+"),
    Package("torcs-data", "GPL-2+"),
    Package("berusky2-data", "GPL-2+"),
    Package("flare-game", "CC-BY-SA-3.0+"),
    Package("btanks-data", "GPL-2+ with an add-on exception"),
    Package("warmux-data", "GPL-2+"),
    Package("triplea", "GPL-2+"),
    Package("plee-the-bear-data", "GPL-2+"),
    Package("extremetuxracer-data", "GPL-2+"),
    Package("hydrogen-data", "GPL-2+"),
    Package("csoundqt-examples", "LGPL-2.1+"),
    Package("simutrans-pak64", "Artistic-1.0"),
    Package("libreoffice-common", "MPL-2.0"),
    Package("micropolis-data", "GPL-3+"),
    Package("netpanzer-data", "GPL-2+"),
    Package("tuxtype-data", "GPL-2"),
    Package("heroes-sound-effects", "GPL-2+"),
    Package("crossfire-client", "GPL-2+, public domain"),
    Package("ukui-media", "GPL-2+"),
    Package("python3-pyo", "LGPL-3, GPL-3+"),
)
PACKAGE_NAMES = tuple(p.name for p in PACKAGES)
# The twenty packages added after the default model was trained (docs/RESULTS.md, "The corpus grows"). Its
# later parts (the presence head, model/presence.py) leave them out too, so that their recordings stay a set of
# sources the whole model never heard.
UNHEARD_PACKAGES = PACKAGE_NAMES[PACKAGE_NAMES.index("flightgear-data-base"):]
LICENCES = {p.name: p.licence for p in PACKAGES}
ZAD_ZIP = "usr/share/games/0ad/mods/public/public.zip"  # 0ad keeps its audio/ inside this zip
ZIP_PREFIX = "audio/"  # the only members of the 0ad zip the corpus extracts

# Synthesised sources: pseudo-packages named after the tool, with the tool's licence.
SYNTH_LICENCES = {
    "espeak-ng": "GPL-3+ (espeak-ng synthesis)",
    "flite": "BSD-like (CMU flite voices)",
    "festival": "BSD-like (festvox kal/ked diphone voices)",
    "fluidsynth-mma": "LGPL-2.1+ (FluidR3 GM soundfont: MIT), mma grooves GPL-2+",
    "fluidsynth-music21": "LGPL-2.1+ (FluidR3 GM soundfont: MIT), music21 corpus (BSD; public-domain scores)",
}
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# Each tool and the Debian package that provides it (the Makefile's DEB_DATA lists the same).
TOOLS: dict[str, str] = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "text2wave": "festival",
    "fluidsynth": "fluidsynth",
    "mma": "mma",
}
FESTIVAL_VOICES: dict[str, tuple[str, Path]] = {
    "kal_diphone": ("festvox-kallpc16k", Path("/usr/share/festival/voices/english/kal_diphone")),
    "ked_diphone": ("festvox-kdlpc16k", Path("/usr/share/festival/voices/english/ked_diphone")),
}


def missing_tools() -> list[str]:
    """Debian packages whose tools `sam-data build` needs but cannot find."""
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    missing += [pkg for pkg, path in FESTIVAL_VOICES.values() if not path.exists()]
    if not SOUNDFONT.exists():
        missing.append("fluid-soundfont-gm")
    return sorted(set(missing))


def fetch(package: str, cache: Path) -> Path:
    """Download (apt-get download) and unpack (dpkg -x) `package` under `cache`; reuse earlier work."""
    if package not in PACKAGE_NAMES:
        raise ValueError(f"{package}: not a corpus source; the allowed packages are listed in sources.PACKAGES")
    cache = cache.resolve()
    root = cache / "unpacked" / package
    if (root / ".complete").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    deb = _find_deb(debs, package)
    if deb is None:
        _run(["apt-get", "download", package], cwd=debs, what=f"downloading {package}")
        deb = _find_deb(debs, package)
        if deb is None:
            raise RuntimeError(f"apt-get download {package} left no .deb in {debs}")
    tmp = root.with_name(package + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    _run(["dpkg", "-x", str(deb), str(tmp)], cwd=debs, what=f"unpacking {deb.name}")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    (root / ".complete").touch()
    return root


def _find_deb(debs: Path, package: str) -> Path | None:
    found = sorted(debs.glob(f"{package}_*.deb"))
    return found[-1] if found else None


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise RuntimeError(f"{what}: {cmd[0]} is not installed") from e
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{what} failed: {e.stderr.strip()[-500:]}") from e


def audio_root(package: str, root: Path) -> Path:
    """The folder whose audio files make the package's sources (0ad: its zip's audio/, extracted once)."""
    if package != "0ad-data":
        return root
    out = root / "public.zip"
    if not (out / ".complete").exists():
        with zipfile.ZipFile(root / ZAD_ZIP) as z:
            members = [n for n in z.namelist() if n.startswith(ZIP_PREFIX) and n.lower().endswith(AUDIO_SUFFIXES)]
            z.extractall(out, members)
        (out / ".complete").touch()
    return out


def audio_files(package: str, root: Path) -> list[str]:
    """Sorted paths (relative to `audio_root`) of the package's audio files, links included."""
    base = audio_root(package, root)
    paths = (p for p in base.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    return sorted(str(p.relative_to(base)) for p in paths)
