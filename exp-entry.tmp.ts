import { dispatch } from './lib/cli/main.ts';
dispatch({ vdelivermail: () => import('./agents/vdelivermail.ts') }, 'x');
