"""Image conversions shared by training and scoring: generator output -> uint8, sample grids -> PNG."""

import io

import torch
from PIL import Image


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8, rounded exactly as torchvision.utils.save_image writes a PNG, so a
    score from memory equals the score of the same samples saved as PNG files."""
    return ((x + 1) / 2).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> torch.Tensor:
    """N x 3 x H x W uint8 -> one 3 x H' x W' uint8 image, rows of `nrow` with black borders (torchvision's layout)."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    cols = min(n, nrow)
    out = torch.zeros(c, rows * (h + pad) + pad, cols * (w + pad) + pad, dtype=torch.uint8)
    for i, img in enumerate(images):
        y, x = pad + (i // nrow) * (h + pad), pad + (i % nrow) * (w + pad)
        out[:, y : y + h, x : x + w] = img
    return out


def png_bytes(image: torch.Tensor) -> bytes:
    """3 x H x W uint8 -> PNG file contents."""
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).cpu().numpy()).save(buf, format="PNG")
    return buf.getvalue()
