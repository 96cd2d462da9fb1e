#!/usr/bin/env python3
"""Lists the longest Rust functions of library code (non-test, under each crate's src/).

Usage: .ci/fn_lengths.py [--max N] [--top K] [ROOT]
With --max N, exits 1 naming every function of more than N lines (the project's limit is 100).
A function's length is counted from its `fn` line to its closing brace. Code inside
`#[cfg(test)]` modules and files under tests/, benches/, examples/ and fuzz/ is not library code.
"""
import os
import re
import sys

FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+"[^"]*"\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)')


def strip(line, state):
    """Remove strings, chars and comments from a line; state carries block comments and raw strings."""
    out = []
    i = 0
    n = len(line)
    while i < n:
        if state['block']:
            j = line.find('*/', i)
            if j < 0:
                return ''.join(out)
            state['block'] = False
            i = j + 2
            continue
        if state['raw'] is not None:
            j = line.find(state['raw'], i)
            if j < 0:
                return ''.join(out)
            i = j + len(state['raw'])
            state['raw'] = None
            continue
        if state['str']:
            if line[i] == '\\':
                i += 2
                continue
            if line[i] == '"':
                state['str'] = False
            i += 1
            continue
        c = line[i]
        if line.startswith('//', i):
            break
        if line.startswith('/*', i):
            state['block'] = True
            i += 2
            continue
        m = re.match(r'b?r(#*)"', line[i:])
        if m and (i == 0 or not (line[i - 1].isalnum() or line[i - 1] == '_')):
            state['raw'] = '"' + m.group(1)
            i += m.end()
            continue
        if c == '"':
            state['str'] = True
            i += 1
            continue
        if c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^\\'])'", line[i:])
            if m:
                i += m.end()
                continue
        out.append(c)
        i += 1
    return ''.join(out)


def functions(path):
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    state = {'block': False, 'raw': None, 'str': False}
    depth = 0
    stack = []  # (name, start_line, depth_at_open, kind)
    pending = None
    pending_test = False
    test_depth = None
    found = []
    for no, raw in enumerate(lines, 1):
        code = strip(raw, state)
        if re.match(r'\s*#\[cfg\((all\()?test', raw):
            pending_test = True
        if test_depth is None:
            m = FN.match(code)
            if m and pending is None:
                pending = (m.group(7), no)
        for c in code:
            if c == '{':
                depth += 1
                if pending is not None:
                    stack.append((pending[0], pending[1], depth))
                    pending = None
                if pending_test and test_depth is None:
                    test_depth = depth
                pending_test = False
            elif c == '}':
                if stack and stack[-1][2] == depth:
                    name, start, _ = stack.pop()
                    if test_depth is None:
                        found.append((no - start + 1, name, start))
                if test_depth == depth:
                    test_depth = None
                depth -= 1
            elif c == ';':
                if pending is not None and not stack or (pending is not None and stack and depth == stack[-1][2] - 1):
                    pending = None
                if pending_test and test_depth is None:
                    pending_test = False
    return found


def main(argv):
    limit = None
    top = 15
    root = '.'
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == '--max':
            limit = int(args.pop(0))
        elif a == '--top':
            top = int(args.pop(0))
        else:
            root = a
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ('target', '.git', 'tests', 'benches', 'fuzz', 'node_modules')]
        if os.sep + 'src' not in dirpath + os.sep and not dirpath.endswith('src'):
            continue
        for name in filenames:
            if name.endswith('.rs'):
                path = os.path.join(dirpath, name)
                for length, fn, start in functions(path):
                    rows.append((length, f'{os.path.relpath(path, root)}:{start}', fn))
    rows.sort(reverse=True)
    if limit is not None:
        over = [r for r in rows if r[0] > limit]
        for length, where, fn in over:
            print(f'{length:5} {where} {fn}')
        if over:
            print(f'{len(over)} functions over {limit} lines', file=sys.stderr)
            return 1
        print(f'no function over {limit} lines ({len(rows)} functions)')
        return 0
    for length, where, fn in rows[:top]:
        print(f'{length:5} {where} {fn}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
