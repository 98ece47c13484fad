"""Image trees on disk -> uint8 tensors: class names, centre crop and resize, the decode cache, bad files."""

import io
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from harness.core.errors import DataError
from harness.core.paths import cache_dir
from harness.data import folder
from harness.data.folder import list_images, read_tree
from tests.conftest import write_pngs


def rand_images(n, size=16, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def save(path, array_hwc):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array_hwc.numpy() if isinstance(array_hwc, torch.Tensor) else array_hwc).save(path)


def test_list_images_classes_are_subfolders_and_loose_files_take_the_folder_name(tmp_path):
    root = tmp_path / "pets"
    write_pngs(root / "dog", rand_images(2))
    write_pngs(root / "cat", rand_images(1))
    write_pngs(root / "cat" / "kittens", rand_images(1), prefix="k")  # nested: still the top sub-folder's class
    write_pngs(root, rand_images(1), prefix="loose")
    (root / "dog" / "notes.txt").write_text("not an image")
    save(root / "dog" / "UPPER.JPG", rand_images(1)[0].permute(1, 2, 0))

    found = [(label, path.relative_to(root).as_posix()) for label, path in list_images(root)]
    assert sorted(found) == sorted(
        [
            ("pets", "loose00000.png"),
            ("cat", "cat/img00000.png"),
            ("cat", "cat/kittens/k00000.png"),
            ("dog", "dog/UPPER.JPG"),
            ("dog", "dog/img00000.png"),
            ("dog", "dog/img00001.png"),
        ]
    )
    assert found == [(label, p.relative_to(root).as_posix()) for label, p in list_images(root)]  # a stable order


def test_read_tree_labels_index_sorted_class_names(tmp_path):
    dogs, cats = rand_images(3, seed=1), rand_images(2, seed=2)
    write_pngs(tmp_path / "dog", dogs)
    write_pngs(tmp_path / "cat", cats)
    images, labels, names = read_tree(tmp_path, 16)
    assert names == ("cat", "dog")
    assert images.dtype == torch.uint8 and images.shape == (5, 3, 16, 16)
    assert labels.tolist() == [0, 0, 1, 1, 1]
    assert torch.equal(images[labels == 0], cats) and torch.equal(images[labels == 1], dogs)  # PNG is lossless


def test_read_tree_centre_crops_non_square_images(tmp_path):
    # 40 wide x 20 high: red | green (the centre 20 x 20) | blue
    wide = torch.zeros(20, 40, 3, dtype=torch.uint8)
    wide[:, :10, 0] = 255
    wide[:, 10:30, 1] = 255
    wide[:, 30:, 2] = 255
    save(tmp_path / "a" / "wide.png", wide)
    # 20 wide x 40 high: the centre rows are white
    tall = torch.zeros(40, 20, 3, dtype=torch.uint8)
    tall[10:30] = 255
    save(tmp_path / "a" / "tall.png", tall)

    images, _, _ = read_tree(tmp_path, 8)
    assert images.shape == (2, 3, 8, 8)
    green = torch.tensor([0, 255, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 8, 8)
    assert torch.equal(images[1], green)  # files sort: tall.png, wide.png
    assert torch.equal(images[0], torch.full((3, 8, 8), 255, dtype=torch.uint8))


@pytest.mark.parametrize("size", [4, 16, 50])
def test_read_tree_resizes_every_size_to_the_resolution(tmp_path, size):
    write_pngs(tmp_path / "a", rand_images(2, size=size))
    save(tmp_path / "a" / "other.png", torch.full((30, 30, 3), 77, dtype=torch.uint8))
    images, _, _ = read_tree(tmp_path, 16)
    assert images.shape == (3, 3, 16, 16)
    assert (images[2] == 77).all()  # other.png sorts last; a flat colour stays flat


def test_read_tree_converts_grey_and_rgba_to_rgb(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("L", (8, 8), 100).save(tmp_path / "a" / "grey.png")
    Image.new("RGBA", (8, 8), (10, 20, 30, 128)).save(tmp_path / "a" / "rgba.png")
    images, _, _ = read_tree(tmp_path, 8)
    assert images.shape == (2, 3, 8, 8)
    assert images[0, :, 0, 0].tolist() == [100, 100, 100]
    assert images[1, :, 0, 0].tolist() == [10, 20, 30]


def test_read_tree_caches_decoded_images(tmp_path, monkeypatch):
    write_pngs(tmp_path / "a", rand_images(3))
    first = read_tree(tmp_path, 16)
    entries = list((cache_dir() / "images").glob("*.pt"))
    assert entries

    def no_decoding(*args):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(folder, "read_image", no_decoding)
    second = read_tree(tmp_path, 16)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1]) and first[2] == second[2]
    # another resolution is another entry, so it decodes
    with pytest.raises(AssertionError, match="decoded again"):
        read_tree(tmp_path, 8)


@pytest.mark.parametrize("ext", ["png", "bmp"])  # a BMP of the same size keeps its byte count: only the mtime tells
def test_a_changed_file_invalidates_the_cache(tmp_path, ext):
    originals = rand_images(3)
    for i, img in enumerate(originals):
        save(tmp_path / "a" / f"img{i}.{ext}", img.permute(1, 2, 0))
    before, _, _ = read_tree(tmp_path, 16)
    assert torch.equal(before, originals)
    path = tmp_path / "a" / f"img1.{ext}"
    stat = path.stat()
    new = torch.full((16, 16, 3), 200, dtype=torch.uint8)
    save(path, new)
    assert (path.stat().st_size == stat.st_size) == (ext == "bmp")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new mtime even on coarse file systems
    after, _, _ = read_tree(tmp_path, 16)
    assert torch.equal(after[1], new.permute(2, 0, 1))
    assert torch.equal(after[0], before[0]) and torch.equal(after[2], before[2])


def test_added_file_invalidates_the_cache(tmp_path):
    write_pngs(tmp_path / "a", rand_images(2))
    assert len(read_tree(tmp_path, 16)[0]) == 2
    write_pngs(tmp_path / "b", rand_images(1))
    images, labels, names = read_tree(tmp_path, 16)
    assert len(images) == 3 and names == ("a", "b") and labels.tolist() == [0, 0, 1]


def test_damaged_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))  # its own: other test workers add entries meanwhile
    write_pngs(tmp_path / "tree" / "a", rand_images(2))
    first, _, _ = read_tree(tmp_path / "tree", 16)
    [mine] = (cache_dir() / "images").glob("*.pt")
    mine.write_bytes(b"garbage")
    again, _, _ = read_tree(tmp_path / "tree", 16)
    assert torch.equal(first, again)


def truncated_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rand_images(1, size=32)[0].permute(1, 2, 0).numpy()).save(buf, format="PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


@pytest.mark.parametrize("content", [b"\x00not a png at all" * 10, truncated_png()], ids=["garbage", "truncated"])
def test_unreadable_image_raises_data_error_naming_the_file(tmp_path, content):
    write_pngs(tmp_path / "a", rand_images(2))
    bad = tmp_path / "a" / "x.png"
    bad.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_tree(tmp_path, 16)
    assert str(bad) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("layout", ["empty", "no-images", "missing"])
def test_no_images_raises_data_error(tmp_path, layout):
    target = tmp_path / "images"
    if layout != "missing":
        (target / "sub").mkdir(parents=True)
    if layout == "no-images":
        (target / "sub" / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match="no images") as err:
        read_tree(target, 16)
    assert str(target) in str(err.value)


def png_file(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written by hand: 16-bit colour PIL cannot save, and huge images whose pixels are all one byte."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def bomb_png(pixels: int) -> bytes:
    """A real black 1-bit PNG of about `pixels` pixels: a few kB on disk, gigabytes once decoded to RGB."""
    width = 10_000
    height = -(-pixels // width)
    return png_file(width, height, 1, 0, (b"\x00" + bytes(width // 8)) * height)


def rows16(pixels: list[tuple[int, ...]], width: int) -> bytes:
    """Rows of big-endian 16-bit samples, each behind PNG's 'no filter' byte."""
    samples = [struct.pack(f">{len(p)}H", *p) for p in pixels]
    return b"".join(b"\x00" + b"".join(samples[i : i + width]) for i in range(0, len(samples), width))


GREY16 = [0, 255, 256, 32768, 40000, 65535]


def test_16_bit_grey_pngs_are_scaled_to_8_bits_not_clipped_to_white(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.array([GREY16] * 6, dtype=np.uint16)).save(tmp_path / "a" / "pil.png")  # as PIL writes one
    (tmp_path / "a" / "raw.png").write_bytes(png_file(6, 6, 16, 0, rows16([(v,) for v in GREY16] * 6, 6)))
    for path in (tmp_path / "a").iterdir():
        with Image.open(path) as im:
            assert im.mode.startswith("I"), im.mode  # a mode PIL's own convert("RGB") clips at 255
    images, _, _ = read_tree(tmp_path, 6)
    expected = [v >> 8 for v in GREY16]
    assert expected == [0, 0, 1, 128, 156, 255]
    assert (images == torch.tensor(expected, dtype=torch.uint8)).all()  # every channel, row and file


@pytest.mark.parametrize(
    "colour_type, pixel, expected",
    [(2, (65535, 32768, 256), [255, 128, 1]), (6, (40000, 1000, 65535, 30000), [156, 3, 255])],
    ids=["rgb", "rgba"],
)
def test_16_bit_colour_pngs_keep_their_high_byte(tmp_path, colour_type, pixel, expected):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(png_file(4, 4, 16, colour_type, rows16([pixel] * 16, 4)))
    images, _, _ = read_tree(tmp_path, 4)
    assert images[0, :, 0, 0].tolist() == expected
    assert (images[0] == images[0, :, :1, :1]).all()


@pytest.mark.parametrize("times", [1, 2], ids=["warns", "raises"])
def test_an_image_beyond_pils_decompression_bomb_limit_is_refused_undecoded(tmp_path, times):
    """Past MAX_IMAGE_PIXELS PIL only warns (and would decode it, here 270 MB as RGB); past twice it raises."""
    write_pngs(tmp_path / "a", rand_images(1))
    bomb = tmp_path / "a" / "bomb.png"
    bomb.write_bytes(bomb_png(times * Image.MAX_IMAGE_PIXELS + 1))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataError, match="decompression bomb") as err:
        read_tree(tmp_path, 16)
    message = str(err.value)
    assert message.startswith(f"unreadable image {bomb}: ") and message.endswith("; remove or replace the file")
    assert "\n" not in message


@pytest.mark.parametrize("links", [{"x.png": "x.png"}, {"x.png": "y.png", "y.png": "x.png"}, {"x.png": "gone.png"}],
                         ids=["self", "pair", "dangling"])  # fmt: skip
def test_a_symlink_loop_or_dangling_link_is_an_unreadable_image(tmp_path, links):
    write_pngs(tmp_path / "a", rand_images(1))
    for name, target in links.items():
        (tmp_path / "a" / name).symlink_to(target)
    with pytest.raises(DataError) as err:
        read_tree(tmp_path, 16)
    reason = "No such file or directory" if "gone.png" in links.values() else "Too many levels of symbolic links"
    assert str(err.value) == f"unreadable image {tmp_path / 'a' / 'x.png'}: {reason}; remove or replace the file"
