// Shared by the addon's translation units: each part registers itself.
#pragma once
#include <napi.h>

void InitPacket(Napi::Env env, Napi::Object exports);
void InitNotify(Napi::Env env, Napi::Object exports);
void InitEthtool(Napi::Env env, Napi::Object exports);
