// The netlink binding's public surface: import from here, not from the files behind it.
export { Netlink, type DefaultGateway, type DumpOptions, type NetlinkEvent, type NetlinkStats, type OpenOptions, type Subscription } from './netlink.js';
export { BlackholeRoutes, BLACKHOLE_METRIC, PODLB_RT_PROTOCOL, type BlackholeOptions, type SyncResult } from './blackhole.js';
export { NetlinkError, NetlinkParseError } from './errors.js';
export { InvalidAddressError, type Family } from '../net/ip.js';
export type { Link } from './link.js';
export type { NextHop, Route, RouteSpec } from './route.js';
export type { OperState, RouteType } from './constants.js';
