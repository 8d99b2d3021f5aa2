"""``looplab images``: pull, list, load and prune the local image store (no Docker daemon)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from looplab.environment.registry import RegistryOptions

app = typer.Typer(
    no_args_is_help=True, help="Pull, list, load and prune the base images of image-mode tasks."
)
console = Console(soft_wrap=True)

ImageMap = Annotated[
    list[str] | None, typer.Option("--image-map", help="Substitute an image: IMAGE=REF (repeatable)")
]
Insecure = Annotated[
    list[str] | None,
    typer.Option("--insecure-registry", help="Registry HOST:PORT spoken to over plain HTTP (repeatable)"),
]


@app.command("pull")
def pull_command(
    image: Annotated[list[str], typer.Argument(help="Image reference(s), e.g. rust:1.82-slim")],
    image_map: ImageMap = None,
    insecure_registry: Insecure = None,
) -> None:
    """Pull images from their registry (again, even when the store has them) and unpack them."""
    from looplab.environment.images import pull

    opts = RegistryOptions.parse(image_map, insecure_registry)
    for ref in image:
        img = pull(ref, opts, refresh=True)
        console.print(f"{img.ref}  {img.digest}")


@app.command("list")
def list_command() -> None:
    """List the images in the store: reference, digest, compressed size, when pulled."""
    from looplab.environment.images import list_images

    table = Table()
    for col in ("image", "digest", "size", "pulled", "from"):
        table.add_column(col)
    for s in list_images():
        when = dt.datetime.fromtimestamp(s.pulled_at).strftime("%Y-%m-%d %H:%M")
        table.add_row(s.ref, s.digest[:19], f"{s.size / 2**20:.1f} MiB", when, s.source)
    console.print(table)


@app.command("load")
def load_command(
    path: Annotated[
        Path, typer.Argument(help="An OCI image layout folder, or a docker-archive / OCI tarball")
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Store it as IMAGE:TAG (default: the name inside)")
    ] = None,
) -> None:
    """Load an image without a registry (air-gapped clusters)."""
    from looplab.environment.images import load

    s = load(path, name)
    console.print(f"{s.ref}  {s.digest}")


@app.command("prune")
def prune_command(
    all_images: Annotated[
        bool, typer.Option("--all", help="Forget every image, not only unreferenced roots")
    ] = False,
) -> None:
    """Remove unpacked roots no image names any more (and, with --all, every image)."""
    from looplab.environment.images import prune

    out = prune(everything=all_images)
    console.print(f"removed {out['references']} image(s), {out['roots']} unpacked root(s)")
