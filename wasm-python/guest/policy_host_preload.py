"""The standard-library modules every policy can import at run time.

Inside a componentize-py component only modules imported while the component
is built exist; a function-level `import base64` in policy code fails with
ModuleNotFoundError unless base64 is imported here. docs/guest.md lists the
snapshot size each of these costs.
"""

# ruff: noqa: F401
import abc
import base64
import binascii
import bisect
import calendar
import collections
import collections.abc
import contextlib
import copy
import dataclasses
import datetime
import decimal
import enum
import fnmatch
import functools
import hashlib
import heapq
import hmac
import html
import http
import io
import ipaddress
import itertools
import json
import logging
import math
import operator
import random
import re
import secrets
import statistics
import string
import struct
import textwrap
import time
import types
import typing
import unicodedata
import urllib.parse
import uuid
import warnings
import zlib
