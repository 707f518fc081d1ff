"""The five vendor APIs, each a package exporting its ``API`` spec."""

from ..core.contract import ApiSpec
from . import antelope, jpush, nextjoy, pan123, wechat

ALL_APIS: list[ApiSpec] = [pan123.API, antelope.API, nextjoy.API, jpush.API, wechat.API]
