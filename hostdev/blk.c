// SPDX-License-Identifier: MIT
/* Placeholder until the device is built. */
