"""Build the demo video, its ground truth and its attribution from openly licensed photos.

    python scripts/make_demo.py [--out demo]

Writes ``demo.mp4`` (640×360, 25 fps, H.264, 40 s), ``demo.gt.json`` (``{"boundaries": [...],
"duration": ...}``) and ``ATTRIBUTION.md``. The photos are scikit-image's sample images
(CC0 or public domain); each shot moves a virtual camera over one photo, some with exposure
drift and sensor noise, so only the cuts change the meaning.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # videokit, the tests' video maker

from videokit import Shot, write_video  # noqa: E402

CREDITS = {
    "chelsea": "Chelsea the cat. CC0, photographer Stefan van der Walt.",
    "coffee": "Coffee cup, courtesy of Pikolo Espresso Bar. CC0, photographer Rachel Michetti.",
    "rocket": "Launch of DSCOVR on Falcon 9, by SpaceX, released into the public domain.",
    "camera": "Man with a camera on a tripod. CC0, photographer Lav Varshney.",
}


def demo_shots() -> list[Shot]:
    photo = {name: getattr(skimage.data, name)() for name in CREDITS}
    return [
        Shot(photo["chelsea"], 8.0, zoom=(1.0, 0.6), pan=0.8, shake_px=2.0),
        Shot(photo["coffee"], 8.0, zoom=(0.7, 1.0), pan=-0.8, exposure=(1.0, 1.12), noise=3.0),
        Shot(photo["rocket"], 10.0, zoom=(0.9, 0.9), pan=0.0, exposure=(0.88, 1.1), noise=4.0, seed=3),
        Shot(photo["camera"], 8.0, zoom=(1.0, 0.75), pan=0.6, shake_px=2.0),
        Shot(photo["chelsea"], 6.0, zoom=(0.6, 0.8), pan=-0.5),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="output folder (default: demo)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    truth = write_video(out / "demo.mp4", demo_shots(), size=(640, 360), fps=25, crf=28)
    (out / "demo.gt.json").write_text(json.dumps(truth) + "\n")
    lines = [
        "# Demo video: sources and licences",
        "",
        "`demo.mp4` is made by `scripts/make_demo.py` from these scikit-image sample photos",
        "(shipped with the `scikit-image` package; credits as its documentation gives them):",
        "",
        *[f"- `{name}`: {credit}" for name, credit in CREDITS.items()],
        "",
        "The video itself (camera motion, cuts, exposure drift and noise added by the script) is",
        "released under CC0.",
        "",
    ]
    (out / "ATTRIBUTION.md").write_text("\n".join(lines))
    print(f"{out / 'demo.mp4'}: {(out / 'demo.mp4').stat().st_size / 1e6:.2f} MB, ground truth {truth}")


if __name__ == "__main__":
    main()
