"""The history of generated images that D is shown (Shrivastava et al. 2017; CycleGAN section 4, 50 images).

Until the pool is full every image is stored and returned. Then each image is, with probability 1/2,
swapped for a random stored one (which is returned, the new one taking its slot), else returned as is.
Draws come from the pool's own ``torch.Generator`` and its state is saved, so a resumed run continues
the exact same sequence.
"""

import torch


class ImagePool:
    """Args: pool_size: images kept (0: no pool, ``query`` returns its input); seed: the draws' seed."""

    def __init__(self, pool_size: int = 50, *, seed: int = 0):
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """images: [N, C, H, W] (detached here) -> [N, C, H, W] mixing current and stored images."""
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(1, generator=self.generator).item() > 0.5:
                k = int(torch.randint(0, self.pool_size, (1,), generator=self.generator))
                out.append(self.images[k].clone())
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that restore the pool exactly (stored images in slot order and the RNG state)."""
        state = {"rng": self.generator.get_state()}
        if self.images:
            state["images"] = torch.cat(self.images, 0).cpu()
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], *, device: torch.device | str = "cpu") -> None:
        self.generator.set_state(state["rng"])
        images = state.get("images")
        self.images = [] if images is None else [img.unsqueeze(0).to(device) for img in images]
