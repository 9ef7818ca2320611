"""Parameter-count tables for G and D, printed at the start of training and by `thygan summary`."""

from torch import nn


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_buffers(module: nn.Module) -> int:
    return sum(b.numel() for b in module.buffers())


def parameter_rows(name: str, module: nn.Module, *, depth: int = 2) -> list[tuple[str, int, int]]:
    """(sub-module path, parameters, buffer elements) for each sub-module down to ``depth`` levels."""
    rows = []
    for path, sub in module.named_modules():
        level = 0 if path == "" else path.count(".") + 1
        if 0 < level <= depth and (level == depth or not any(True for _ in sub.children())):
            rows.append((f"{name}.{path}", count_parameters(sub), count_buffers(sub)))
    rows.append((f"{name} total", count_parameters(module), count_buffers(module)))
    return rows


def format_parameter_table(networks: dict[str, nn.Module], *, depth: int = 1) -> str:
    """A fixed-width table with one row per sub-module and a total per network."""
    rows = [row for name, net in networks.items() for row in parameter_rows(name, net, depth=depth)]
    width = max(len("module"), *(len(r[0]) for r in rows))
    lines = [f"{'module':<{width}}  {'parameters':>12}  {'buffers':>10}", "-" * (width + 26)]
    for path, params, buffers in rows:
        line = f"{path:<{width}}  {params:>12,}  {buffers:>10,}"
        if path.endswith(" total"):
            lines += [line, ""]
        else:
            lines.append(line)
    return "\n".join(lines).rstrip() + "\n"
