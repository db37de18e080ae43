/**
 * A parameter as a head or an encoder declares it: HF-style name, shape, initialisation, whether weight decay
 * applies (the one declaration type; params.ts places each in the arena as a ParamSpec, a head's context
 * resolves it to a view of the arena).
 */
export type Spec = [name: string, shape: number[], init: 'normal' | 'zeros' | 'ones', decay: boolean];
