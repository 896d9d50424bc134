/** The WinRM job family: the `winrm.exec` handler, its host registry and command ACL. */
export { WinrmHandler, createWinrmHandler, describeWinrmError, isUnreachable, type WinrmHandlerOptions } from './handler.js';
export { WinrmHosts, hostKey, DEFAULT_MAX_CONCURRENT, DEFAULT_MAX_OUTPUT_BYTES, type HostEntry, type WinRMClientFactory } from './hosts.js';
export { CommandPattern, aclAllows, aclKey, compileCommandPattern, compileHostPattern, mayRun, type WinrmCommandType } from './acl.js';
