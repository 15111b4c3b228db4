/**
 * `command/cancel`: stops a running command through the router, which owns the
 * running commands (docs/protocol.md §Cancelling a command). The router adds this
 * capability itself, so every agent answers it whatever else it offers.
 */
import { action, type Capability } from './capability.js';

export interface CommandControl {
  /** true when the command was running (and is now told to stop) or will be refused on arrival. */
  cancel(commandId: string): boolean;
}

export function createCommandCapability(control: CommandControl): Capability {
  return {
    name: 'command',
    actions: {
      cancel: action('command/cancel', async (args, ctx) => {
        const cancelled = control.cancel(args.id);
        ctx.log.info('cancel requested', { target: args.id, cancelled });
        return { cancelled };
      }),
    },
  };
}
