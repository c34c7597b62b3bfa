"""Tables that page and sort: the sort key comes from a fixed list, never from the URL as is."""

from dataclasses import dataclass

from django.core.paginator import Paginator

PER_PAGE = 50


@dataclass
class Table:
    page: object
    sort: str
    desc: bool
    columns: dict[str, str]  # sort key -> heading

    def headers(self):
        """(key, heading, aria-sort, the ?sort= value a click asks for)."""
        for key, heading in self.columns.items():
            if key == self.sort:
                yield (
                    key,
                    heading,
                    "descending" if self.desc else "ascending",
                    (key if self.desc else f"-{key}"),
                )
            else:
                yield key, heading, "none", key


def table(request, queryset, columns: dict[str, tuple[str, str]], default: str) -> Table:
    """`columns` maps a sort key to (heading, model field); `default` like "-id"."""
    raw = request.GET.get("sort", default)
    key = raw.lstrip("-")
    if key not in columns:
        raw, key = default, default.lstrip("-")
    desc = raw.startswith("-")
    field = columns[key][1]
    ordered = queryset.order_by(f"-{field}" if desc else field, "-pk" if desc else "pk")
    paginator = Paginator(ordered, PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return Table(page, key, desc, {k: h for k, (h, _) in columns.items()})
