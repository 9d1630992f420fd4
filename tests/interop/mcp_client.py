"""Drives an MCP server (normally through `writ gateway mcp`) with the official Python `mcp` SDK.

Usage:
  mcp_client.py stdio SCENARIO_JSON -- COMMAND ARGS...
  mcp_client.py http SCENARIO_JSON URL [TOKEN]

SCENARIO_JSON: {"calls": [{"name": TOOL, "arguments": {...}, "meta": {...}?}, ...]}
(a call's "meta" is sent as its request's `_meta`, e.g. {"traceparent": "00-…"}).
Prints one JSON document: {"tools": [names], "calls": [{"name", "ok", "result" | "error"}]}.
Denials arrive as MCP errors (mcp.MCPError) with code, message and data.
"""

import asyncio
import json
import sys

from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def scenario(session, plan):
    await session.initialize()
    listed = await session.list_tools()
    out = {"tools": sorted(t.name for t in listed.tools), "calls": []}
    for call in plan.get("calls", []):
        entry = {"name": call["name"]}
        try:
            res = await session.call_tool(
                call["name"], call.get("arguments") or {}, meta=call.get("meta")
            )
            entry["ok"] = not res.is_error
            entry["result"] = res.model_dump(mode="json", by_alias=True, exclude_none=True)
        except MCPError as e:
            entry["ok"] = False
            entry["error"] = {"code": e.code, "message": e.message, "data": e.data}
        out["calls"].append(entry)
    return out


async def main():
    mode, plan = sys.argv[1], json.loads(sys.argv[2])
    if mode == "stdio":
        rest = sys.argv[3:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        params = StdioServerParameters(command=rest[0], args=rest[1:])
        async with stdio_client(params) as (r, w):
            async with ClientSession(r, w) as session:
                out = await scenario(session, plan)
    else:
        url = sys.argv[3]
        headers = {"Authorization": f"Bearer {sys.argv[4]}"} if len(sys.argv) > 4 else None
        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as (r, w):
                async with ClientSession(r, w) as session:
                    out = await scenario(session, plan)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
