/**
 * The core's outputs as Jupyter iopub messages (type, content, metadata, buffers), written once
 * for both hosts: kernels/node signs and sends them over ZeroMQ, kernels/browser hands them to
 * JupyterLite. Field names follow the Jupyter messaging spec 5.3.
 */
import type { KernelOutput } from './core.js';

export interface IopubMessage {
  msgType: 'stream' | 'display_data' | 'update_display_data' | 'execute_result' | 'error' | 'clear_output' | 'comm_open' | 'comm_msg' | 'comm_close';
  content: Record<string, unknown>;
  /** The message's metadata (comms carry theirs here; displays have none). */
  metadata: Record<string, unknown>;
  buffers: ArrayBuffer[];
}

export interface IopubOptions {
  /**
   * The execution count an execute_result shows. By default the core's; a host whose front-end
   * counter can differ from the core's (JupyterLite counts requests itself, and its count
   * survives a worker restart) passes its own so the result matches the reply.
   */
  executionCount?: number;
}

export function toIopubMessage(out: KernelOutput, options: IopubOptions = {}): IopubMessage {
  const msg = (msgType: IopubMessage['msgType'], content: Record<string, unknown>, metadata: Record<string, unknown> = {}, buffers: ArrayBuffer[] = []): IopubMessage => ({ msgType, content, metadata, buffers });
  switch (out.type) {
    case 'stream':
      return msg('stream', { name: out.name, text: out.text });
    case 'display_data':
      return msg('display_data', { data: out.data, metadata: {}, transient: out.displayId ? { display_id: out.displayId } : {} });
    case 'update_display_data':
      return msg('update_display_data', { data: out.data, metadata: {}, transient: { display_id: out.displayId } });
    case 'execute_result':
      return msg('execute_result', { data: out.data, metadata: {}, execution_count: options.executionCount ?? out.executionCount });
    case 'error':
      return msg('error', { ename: out.ename, evalue: out.evalue, traceback: out.traceback });
    case 'clear_output':
      return msg('clear_output', { wait: out.wait });
    case 'comm_open':
      return msg('comm_open', { comm_id: out.commId, target_name: out.targetName, data: out.data }, out.metadata, out.buffers);
    case 'comm_msg':
      return msg('comm_msg', { comm_id: out.commId, data: out.data }, out.metadata, out.buffers);
    case 'comm_close':
      return msg('comm_close', { comm_id: out.commId, data: out.data }, out.metadata);
  }
}
