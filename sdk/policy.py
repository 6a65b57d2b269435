"""The policy SDK: the types a gateway policy receives and returns.

Policy code does ``from sdk.policy import ...``. The names, fields and
defaults here are the contract the gateway's Python executor defined; policies
written against it run unchanged inside policy-host's WebAssembly sandbox.

A policy module exports ``on_request(ctx, params)`` and/or
``on_response(ctx, params)``. Each returns an action, or ``None`` to let the
request or response pass through unchanged.
"""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Dict, List, Optional, Union

__all__ = [
    "SharedContext",
    "Body",
    "RequestContext",
    "ResponseContext",
    "UpstreamRequestModifications",
    "ImmediateResponse",
    "UpstreamResponseModifications",
    "RequestAction",
    "ResponseAction",
    "PolicyMetadata",
    "HeaderProcessingMode",
    "BodyProcessingMode",
    "ProcessingMode",
    "OnRequestFn",
    "OnResponseFn",
    "Policy",
]


@dataclass
class SharedContext:
    """Per-request data shared by every policy in the chain.

    ``metadata`` may be changed by a policy; the gateway merges the changes
    back and hands them to the policies that run after it.
    """

    project_id: str = ""
    request_id: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)
    api_id: str = ""
    api_name: str = ""
    api_version: str = ""
    api_kind: str = ""
    api_context: str = ""
    operation_path: str = ""
    auth_context: Dict[str, str] = field(default_factory=dict)


@dataclass
class Body:
    """A request or response body as the gateway buffered it."""

    content: Optional[bytes] = None
    end_of_stream: bool = False
    present: bool = False


@dataclass
class RequestContext:
    """What an ``on_request`` policy sees of the client's request."""

    shared: SharedContext
    headers: Dict[str, str]
    body: Optional[Body] = None
    path: str = ""
    method: str = ""
    authority: str = ""
    scheme: str = ""


@dataclass
class ResponseContext:
    """What an ``on_response`` policy sees of the request and the upstream's response."""

    shared: SharedContext
    request_headers: Dict[str, str] = field(default_factory=dict)
    request_body: Optional[Body] = None
    request_path: str = ""
    request_method: str = ""
    response_headers: Dict[str, str] = field(default_factory=dict)
    response_body: Optional[Body] = None
    response_status: int = 200


@dataclass
class UpstreamRequestModifications:
    """Changes to make to the request before it goes upstream.

    ``body``, ``path`` and ``method`` are changed only when set (not None);
    an empty ``body`` of ``b""`` that was set replaces the body with nothing.
    """

    set_headers: Dict[str, str] = field(default_factory=dict)
    remove_headers: List[str] = field(default_factory=list)
    append_headers: Dict[str, List[str]] = field(default_factory=dict)
    body: Optional[bytes] = None
    path: Optional[str] = None
    method: Optional[str] = None
    analytics_metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ImmediateResponse:
    """Answer the client directly; the request never reaches the upstream."""

    status_code: int = 500
    headers: Dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    analytics_metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass
class UpstreamResponseModifications:
    """Changes to make to the upstream's response before it reaches the client."""

    set_headers: Dict[str, str] = field(default_factory=dict)
    remove_headers: List[str] = field(default_factory=list)
    append_headers: Dict[str, List[str]] = field(default_factory=dict)
    body: Optional[bytes] = None
    status_code: Optional[int] = None
    analytics_metadata: Dict[str, Any] = field(default_factory=dict)


RequestAction = Optional[Union[UpstreamRequestModifications, ImmediateResponse]]
"""What ``on_request`` may return: None means pass through."""

ResponseAction = Optional[UpstreamResponseModifications]
"""What ``on_response`` may return: None means pass through."""


@dataclass
class PolicyMetadata:
    """Where a policy instance is attached in the gateway's configuration."""

    route_name: str = ""
    api_id: str = ""
    api_name: str = ""
    api_version: str = ""
    attached_to: str = ""


class HeaderProcessingMode(Enum):
    """Whether the gateway sends a phase's headers to the policy."""

    SKIP = "SKIP"
    PROCESS = "PROCESS"


class BodyProcessingMode(Enum):
    """Whether the gateway buffers a phase's body for the policy."""

    SKIP = "SKIP"
    BUFFER = "BUFFER"


@dataclass
class ProcessingMode:
    """Which parts of the exchange a policy wants to see."""

    request_header_mode: HeaderProcessingMode = HeaderProcessingMode.PROCESS
    request_body_mode: BodyProcessingMode = BodyProcessingMode.SKIP
    response_header_mode: HeaderProcessingMode = HeaderProcessingMode.SKIP
    response_body_mode: BodyProcessingMode = BodyProcessingMode.SKIP


OnRequestFn = Callable[[RequestContext, Dict[str, Any]], RequestAction]
"""The signature of a module-level ``on_request``."""

OnResponseFn = Callable[[ResponseContext, Dict[str, Any]], ResponseAction]
"""The signature of a module-level ``on_response``."""


class Policy(ABC):
    """Deprecated: the class-based policy style.

    New policies export module-level ``on_request``/``on_response`` functions.
    Old ones export ``get_policy(metadata, params)`` returning a subclass of
    this; they still run. A phase the subclass does not override passes
    through.
    """

    def __init__(self, metadata: PolicyMetadata, params: Dict[str, Any]):
        self.metadata = metadata
        self.params = params

    def mode(self) -> ProcessingMode:
        """The parts of the exchange this policy processes."""
        return ProcessingMode()

    def on_request(self, ctx: RequestContext, params: Dict[str, Any]) -> RequestAction:
        """Handles the request phase; the default passes through."""
        return None

    def on_response(self, ctx: ResponseContext, params: Dict[str, Any]) -> ResponseAction:
        """Handles the response phase; the default passes through."""
        return None
