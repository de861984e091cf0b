from collections.abc import Callable
from typing import Any

class PaginationParameters:
    page: int
    page_size: int
    item_count: int | None
    def __init__(self, page: int, page_size: int) -> None: ...
    @property
    def first_item(self) -> int: ...
    @property
    def last_item(self) -> int: ...

_pagination_parameters_schema_factory: Callable[[int, int, int], type[Any]]
