"""Parse the reference's number ranges: ``0-200`` (inclusive) and ``1,5,9`` lists, mixed freely."""

import re

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_NUMBER = re.compile(r"^\s*(\d+)\s*$")


def parse_num_range(text: str | list[int]) -> list[int]:
    """Turn ``"0-3,7,10-11"`` into ``[0, 1, 2, 3, 7, 10, 11]``.

    Ranges are inclusive at both ends, as in StyleGAN2-ADA's generate.py. Raises ValueError with the
    offending part when the text is malformed or a range runs backwards.
    """
    if isinstance(text, list):
        return list(text)
    numbers: list[int] = []
    parts = str(text).split(",")
    for part in parts:
        if match := _RANGE.match(part):
            lo, hi = int(match.group(1)), int(match.group(2))
            if hi < lo:
                raise ValueError(f"range '{part.strip()}' runs backwards (expected low-high)")
            numbers.extend(range(lo, hi + 1))
        elif match := _NUMBER.match(part):
            numbers.append(int(match.group(1)))
        else:
            raise ValueError(f"'{part.strip()}' is not a non-negative number or a low-high range")
    return numbers
