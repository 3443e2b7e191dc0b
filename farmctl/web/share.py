"""The customer's page: `/share/<token>` shows one order's progress, and nothing else of the farm.

The token is a share link made by `farmctl orders share ID` (hashed like an API key, farmctl.store.keys);
it opens this page for that one order and no other endpoint. The page names the order's own parts,
copies done, the projected finish against the due date; never a printer, another order or another
customer's file. A wrong or revoked link gets the same plain "not valid" page as a link that never
existed. Rendered on the server (no script), refreshing itself every minute.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from farmctl.web.context import context_of

router = APIRouter(include_in_schema=False)

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
_STYLE = """
body { font: 17px/1.45 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d232b; }
main { max-width: 46em; margin: 0 auto; padding: 1.2em; }
h1 { font-size: 1.4em; margin: .2em 0; } .dim { color: #5d6875; }
.verdict { font-size: 1.15em; font-weight: 600; margin: .8em 0; }
.late { color: #b42318; } .ok { color: #1a7f37; }
table { border-collapse: collapse; width: 100%; background: #fff; }
td, th { text-align: left; padding: .45em .6em; border-bottom: 1px solid #e3e6ea; }
.bar { height: .5em; background: #e3e6ea; border-radius: .3em; overflow: hidden; min-width: 5em; }
.bar > div { height: 100%; background: #2f81f7; }
"""


def _page(title: str, body: str, *, refresh: bool) -> str:
    meta = '<meta http-equiv="refresh" content="60">' if refresh else ""
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _when(iso: str | None) -> str:
    if iso is None:
        return "not yet projected"
    return datetime.fromisoformat(iso).strftime("%a %d %b %Y, %H:%M")


def customer_view(store: Any, order_id: int) -> dict[str, Any]:
    """The order as its customer may see it: no printer, no other order, no internal note."""
    from farmctl.app.documents import order_document

    order = order_document(store, order_id)
    return {
        "order": order["id"],
        "customer": order["customer"],
        "project": order["project"],
        "due": order["due"],
        "projected_finish": order["projected_finish"],
        "at_risk": order["at_risk"],
        "copies": order["copies"],
        "copies_done": order["copies_done"],
        "parts": [
            {"file": j["file"], "copies": j["copies"], "copies_done": j["copies_done"], "state": j["state"]}
            for j in order["job_list"]
        ],
    }


def _percent(part: dict[str, Any]) -> int:
    return 100 * int(part["copies_done"]) // max(1, int(part["copies"]))


def _render(view: dict[str, Any]) -> str:
    done, total = view["copies_done"], view["copies"]
    if done >= total and total:
        verdict = '<p class="verdict ok">All parts are printed.</p>'
    elif view["at_risk"]:
        verdict = '<p class="verdict late">Projected to finish after the due date.</p>'
    else:
        verdict = '<p class="verdict ok">On time.</p>'
    rows = "".join(
        f"<tr><td>{escape(p['file'])}</td><td>{p['copies_done']} of {p['copies']}</td>"
        f"<td><div class=\"bar\"><div style=\"width:{_percent(p)}%\"></div></div></td>"
        f"<td>{escape(p['state'])}</td></tr>"
        for p in view["parts"]
    )
    project = f" · {escape(view['project'])}" if view["project"] else ""
    body = (
        f"<p class=\"dim\">Order {escape(view['order'])}{project}</p><h1>{escape(view['customer'])}</h1>"
        f"{verdict}<p>{done} of {total} parts printed. Due {escape(_when(view['due']))}; projected finish "
        f"{escape(_when(view['projected_finish']))}.</p>"
        f"<table><tr><th>part</th><th>copies</th><th></th><th>state</th></tr>{rows}</table>"
        "<p class=\"dim\">This page updates every minute.</p>"
    )
    return _page(f"Order {view['order']}", body, refresh=True)


@router.get("/share/{token}", response_class=HTMLResponse)
def shared_order(request: Request, token: str) -> HTMLResponse:
    store = context_of(request).store
    key = store.find_api_key(token)
    order_id = key.shared_order if key is not None else None
    if order_id is None:
        body = (
            "<h1>This link is not valid</h1>"
            '<p class="dim">It may have been revoked. Ask the print shop for a new one.</p>'
        )
        return HTMLResponse(_page("Link not valid", body, refresh=False), status_code=404, headers=_HEADERS)
    return HTMLResponse(_render(customer_view(store, order_id)), headers=_HEADERS)
