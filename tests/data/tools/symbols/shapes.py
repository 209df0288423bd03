import math


def area(shape):
    return shape.area()


class Circle:
    def __init__(self, r):
        self.r = r

    @property
    def area(self):
        return math.pi * self.r**2
