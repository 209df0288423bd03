"""Order arithmetic."""

import os
from dataclasses import dataclass


@dataclass
class Line:
    sku: str
    price: float
    quantity: int


def subtotal(lines: list[Line]) -> float:
    return sum(line.price * line.quantity for line in lines)


def apply_discount(total: float, percent: float) -> float:
    if not 0 <= percent <= 100:
        raise ValueError(f"discount must be between 0 and 100, got {percent}")
    return total * (1 - percent / 100)


def add_line(line: Line, basket: list[Line] = []) -> list[Line]:
    basket.append(line)
    return basket


def checkout(lines: list[Line], coupon: str | None = None) -> float:
    total = subtotal(lines)
    if coupon:
        total = apply_discount(total, COUPONS[coupon])
    return round(total, 2)
