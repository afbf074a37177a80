package io.moco4j.io;

import io.moco4j.util.UserException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A pickle decoder that only understands plain data and the handful of PyTorch globals a tensor
 * checkpoint needs. It never resolves arbitrary names: any other global ({@code os.system},
 * {@code builtins.eval}, {@code subprocess.Popen}, a model class, ...) makes the whole file be refused,
 * as does any opcode that builds arbitrary objects (INST, OBJ, EXT*, out-of-band buffers).
 *
 * <p>We wrote this instead of configuring net.razorvine:pickle because that library turns unknown
 * globals into dictionaries instead of failing, keeps its constructor registry in a process-wide
 * static map, and allocates declared string lengths before checking them against the input.
 *
 * <p>Python values map to Java as: None to null, bool to Boolean, int to Long (BigInteger when it
 * does not fit), float to Double, str to String, bytes to byte[], list to a mutable List, tuple to an
 * unmodifiable List, dict/OrderedDict to LinkedHashMap, set to LinkedHashSet, tensors to
 * {@link TensorView}s produced by the rebuild functions.
 */
final class RestrictedUnpickler {

    /** Resolves a persistent id (a tuple such as {@code ('storage', FloatStorage, '0', 'cpu', 12)}) to a storage. */
    interface PersistentLoader {
        Object load(List<Object> pid);
    }

    /** An allowed Python global; what it may do is decided where it is used. */
    record PyGlobal(String module, String name) {
        String qualifiedName() {
            return module + "." + name;
        }
    }

    /**
     * A storage as declared by a persistent id. Its bytes are attached once they have been read: the
     * zip format stores them in separate entries, the legacy format after the pickle.
     */
    static final class Storage {
        final String key;
        final DType dtype;
        final long numel;
        ByteBuffer bytes;

        Storage(String key, DType dtype, long numel) {
            this.key = key;
            this.dtype = dtype;
            this.numel = numel;
        }
    }

    /** A window of a storage (legacy checkpoints may address part of a storage); usually the whole of it. */
    record StorageView(Storage root, long elementOffset, long numel) {}

    /** The result of a tensor rebuild before its bytes are copied out: a strided view of a storage. */
    record TensorView(Storage storage, long offset, long[] size, long[] stride) {}

    private static final Object MARK = new Object() {
        @Override
        public String toString() {
            return "MARK";
        }
    };

    private static final Set<String> CALLABLES = Set.of(
            "torch._utils._rebuild_tensor_v2",
            "torch._utils._rebuild_tensor",
            "torch._utils._rebuild_parameter",
            "torch._utils._rebuild_parameter_with_state",
            "torch.nn.parameter.Parameter",
            "collections.OrderedDict",
            "torch.Size",
            "_codecs.encode",
            "builtins.set", "__builtin__.set",
            "builtins.frozenset", "__builtin__.frozenset");

    private final ByteBuffer in;
    private final String file;
    private final PersistentLoader loader;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final ArrayList<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();

    /**
     * @param in read from its position up to its limit; on return from {@link #load()} the position is
     *     just after the STOP opcode
     */
    RestrictedUnpickler(ByteBuffer in, String file, PersistentLoader loader) {
        this.in = in.order(ByteOrder.LITTLE_ENDIAN);
        this.file = file;
        this.loader = loader;
    }

    /** Whether a global may appear in a checkpoint at all. */
    static boolean isAllowedGlobal(String module, String name) {
        String q = module + "." + name;
        if (CALLABLES.contains(q)) {
            return true;
        }
        return module.equals("torch") && (DType.ofTorchStorage(name) != null || name.equals("UntypedStorage"));
    }

    Object load() {
        while (true) {
            int op = u8();
            switch (op) {
                case 0x80 -> u8(); // PROTO
                case 0x95 -> i64(); // FRAME: the length is only a read-ahead hint, the opcodes follow inline
                case '.' -> {
                    Object result = pop();
                    if (!marks.isEmpty()) {
                        throw corrupt("STOP inside an open MARK");
                    }
                    return result;
                }
                case '(' -> marks.add(stack.size());
                case '0' -> pop();
                case '1' -> popMark();
                case '2' -> push(peek());
                case 'N' -> push(null);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'I' -> push(parseIntLine(line()));
                case 'J' -> push((long) in.getInt(need(4)));
                case 'K' -> push((long) u8());
                case 'M' -> push((long) (in.getShort(need(2)) & 0xffff));
                case 'L' -> push(parseLongLine(line()));
                case 0x8a -> push(littleEndianSigned(bytes(u8())));
                case 0x8b -> push(littleEndianSigned(bytes(u32())));
                case 'F' -> push(parseFloatLine(line()));
                case 'G' -> push(Double.longBitsToDouble(Long.reverseBytes(in.getLong(need(8))))); // big endian
                case 'T' -> push(new String(bytes(u32()), StandardCharsets.ISO_8859_1));
                case 'U' -> push(new String(bytes(u8()), StandardCharsets.ISO_8859_1));
                case 'B' -> push(bytes(u32()));
                case 'C' -> push(bytes(u8()));
                case 0x8e -> push(bytes(i64()));
                case 0x96 -> push(bytes(i64())); // BYTEARRAY8: plain bytes for our purposes
                case 'V' -> push(rawUnicodeEscape(line()));
                case 'X' -> push(utf8(u32()));
                case 0x8c -> push(utf8(u8()));
                case 0x8d -> push(utf8(i64()));
                case ')' -> push(tuple(List.of()));
                case 't' -> push(tuple(popMark()));
                case 0x85 -> push(tuple(Arrays.asList(pop())));
                case 0x86 -> { Object b = pop(); Object a = pop(); push(tuple(Arrays.asList(a, b))); }
                case 0x87 -> { Object c = pop(); Object b = pop(); Object a = pop(); push(tuple(Arrays.asList(a, b, c))); }
                case ']' -> push(new ArrayList<>());
                case 'l' -> push(new ArrayList<>(popMark()));
                case 'a' -> { Object v = pop(); list(peek(), "APPEND").add(v); }
                case 'e' -> { List<Object> items = popMark(); list(peek(), "APPENDS").addAll(items); }
                case '}' -> push(new LinkedHashMap<>());
                case 'd' -> push(dictOf(popMark(), new LinkedHashMap<>()));
                case 's' -> { Object v = pop(); Object k = pop(); dict(peek(), "SETITEM").put(k, v); }
                case 'u' -> { List<Object> items = popMark(); dictOf(items, dict(peek(), "SETITEMS")); }
                case 0x8f -> push(new LinkedHashSet<>());
                case 0x90 -> { List<Object> items = popMark(); set(peek()).addAll(items); }
                case 0x91 -> push(Collections.unmodifiableSet(new LinkedHashSet<>(popMark())));
                case 'g' -> push(memoGet(memoKey(line())));
                case 'h' -> push(memoGet(u8()));
                case 'j' -> push(memoGet(u32()));
                case 'p' -> memoPut(memoKey(line()));
                case 'q' -> memoPut(u8());
                case 'r' -> memoPut(u32());
                case 0x94 -> memoPut(memo.size());
                case 'c' -> push(global(line(), line()));
                case 0x93 -> {
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw corrupt("STACK_GLOBAL needs two strings");
                    }
                    push(global(m, n));
                }
                case 'R' -> { Object args = pop(); Object fn = pop(); push(call(fn, args, "REDUCE")); }
                case 0x81 -> { Object args = pop(); Object cls = pop(); push(call(cls, args, "NEWOBJ")); }
                case 0x92 -> {
                    Object kwargs = pop();
                    Object args = pop();
                    Object cls = pop();
                    if (!(kwargs instanceof Map<?, ?> kw) || !kw.isEmpty()) {
                        throw refused("NEWOBJ_EX with keyword arguments");
                    }
                    push(call(cls, args, "NEWOBJ_EX"));
                }
                case 'b' -> build();
                case 'Q' -> {
                    Object pid = pop();
                    if (!(pid instanceof List<?> l)) {
                        throw refused("a persistent id that is not a tuple");
                    }
                    @SuppressWarnings("unchecked")
                    List<Object> tuple = (List<Object>) l;
                    push(loader.load(tuple));
                }
                case 'P' -> throw refused("a text persistent id (PERSID opcode); torch.save never writes one");
                case 'i', 'o' -> throw refused("an object built by the " + (op == 'i' ? "INST" : "OBJ") + " opcode");
                case 0x82, 0x83, 0x84 -> throw refused("a copyreg extension code (EXT opcode)");
                case 0x97, 0x98 -> throw refused("an out-of-band buffer (protocol 5)");
                case 'S' -> throw refused("a protocol 0 quoted string (STRING opcode)");
                default -> throw corrupt(String.format("unknown pickle opcode 0x%02x at byte %d", op, in.position() - 1));
            }
        }
    }

    // ---- restricted object construction ----

    private PyGlobal global(String module, String name) {
        if (!isAllowedGlobal(module, name)) {
            throw refused("the Python global '" + module + "." + name + "'");
        }
        return new PyGlobal(module, name);
    }

    private Object call(Object fn, Object argsObj, String opcode) {
        if (!(fn instanceof PyGlobal g) || !CALLABLES.contains(g.qualifiedName())) {
            throw refused(opcode + " on " + describe(fn) + ", which is not an allowed function");
        }
        if (!(argsObj instanceof List<?> args)) {
            throw corrupt(opcode + " arguments are not a tuple");
        }
        return switch (g.qualifiedName()) {
            case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" -> rebuildTensor(args);
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.nn.parameter.Parameter" -> {
                if (args.isEmpty() || !(args.get(0) instanceof TensorView)) {
                    throw corrupt("Parameter without a tensor");
                }
                yield args.get(0);
            }
            case "collections.OrderedDict" -> {
                LinkedHashMap<Object, Object> map = new LinkedHashMap<>();
                if (!args.isEmpty()) {
                    for (Object pair : iterable(args.get(0))) {
                        if (!(pair instanceof List<?> kv) || kv.size() != 2) {
                            throw corrupt("OrderedDict items are not pairs");
                        }
                        map.put(kv.get(0), kv.get(1));
                    }
                }
                yield map;
            }
            case "torch.Size" -> tuple(args.isEmpty() ? List.of() : new ArrayList<>(iterable(args.get(0))));
            case "_codecs.encode" -> {
                if (args.size() != 2 || !(args.get(0) instanceof String s) || !"latin1".equals(args.get(1))) {
                    throw refused("_codecs.encode with arguments other than (str, 'latin1')");
                }
                yield s.getBytes(StandardCharsets.ISO_8859_1);
            }
            default -> { // set, frozenset
                LinkedHashSet<Object> set = new LinkedHashSet<>();
                if (!args.isEmpty()) {
                    set.addAll(iterable(args.get(0)));
                }
                yield set;
            }
        };
    }

    private TensorView rebuildTensor(List<?> args) {
        if (args.size() < 4 || !(args.get(0) instanceof StorageView storage) || !(args.get(1) instanceof Long offset)) {
            throw corrupt("tensor rebuild arguments are not (storage, offset, size, stride, ...)");
        }
        long[] size = longs(args.get(2), "size");
        long[] stride = longs(args.get(3), "stride");
        if (size.length != stride.length) {
            throw corrupt("tensor size and stride have different ranks");
        }
        long last = offset;
        boolean empty = false;
        for (int i = 0; i < size.length; i++) {
            if (size[i] < 0 || stride[i] < 0) {
                throw corrupt("negative tensor size or stride");
            }
            empty |= size[i] == 0;
            if (size[i] > 0) {
                last = Math.addExact(last, Math.multiplyExact(size[i] - 1, stride[i]));
            }
        }
        if (offset < 0 || (!empty && last >= storage.numel())) {
            throw corrupt("a tensor view reaches past the end of storage '" + storage.root().key + "'");
        }
        return new TensorView(storage.root(), storage.elementOffset() + offset, size, stride);
    }

    private void build() {
        Object state = pop();
        Object target = peek();
        // OrderedDict state dicts carry a `_metadata` attribute (module versions); it is not data we need.
        if (target instanceof Map<?, ?> && (state == null || state instanceof Map<?, ?>)) {
            return;
        }
        throw refused("BUILD (setting object state) on " + describe(target));
    }

    // ---- stack, memo, input ----

    private void push(Object o) {
        stack.add(o);
    }

    private Object pop() {
        int floor = marks.isEmpty() ? 0 : marks.get(marks.size() - 1);
        if (stack.size() <= floor) {
            throw corrupt("pickle stack underflow");
        }
        return stack.remove(stack.size() - 1);
    }

    private Object peek() {
        if (stack.isEmpty()) {
            throw corrupt("pickle stack underflow");
        }
        return stack.get(stack.size() - 1);
    }

    private List<Object> popMark() {
        if (marks.isEmpty()) {
            throw corrupt("no MARK on the pickle stack");
        }
        int m = marks.remove(marks.size() - 1);
        List<Object> top = stack.subList(m, stack.size());
        List<Object> items = new ArrayList<>(top);
        top.clear();
        return items;
    }

    private Object memoGet(long index) {
        if (!memo.containsKey(index)) {
            throw corrupt("memo key " + index + " read before it was written");
        }
        return memo.get(index);
    }

    private void memoPut(long index) {
        if (index < 0) {
            throw corrupt("negative memo key");
        }
        memo.put(index, peek());
    }

    private int u8() {
        return in.get(need(1)) & 0xff;
    }

    private long u32() {
        return in.getInt(need(4)) & 0xffffffffL;
    }

    private long i64() {
        return in.getLong(need(8));
    }

    /** Checks that n bytes remain, advances past them and returns the position they start at. */
    private int need(long n) {
        if (n < 0 || n > in.remaining()) {
            throw truncated();
        }
        int p = in.position();
        in.position(p + (int) n);
        return p;
    }

    private byte[] bytes(long n) {
        int p = need(n);
        byte[] b = new byte[(int) n];
        in.get(p, b);
        return b;
    }

    private String utf8(long n) {
        return new String(bytes(n), StandardCharsets.UTF_8);
    }

    private String line() {
        int start = in.position();
        for (int i = start; i < in.limit(); i++) {
            if (in.get(i) == '\n') {
                byte[] b = new byte[i - start];
                in.get(start, b);
                in.position(i + 1);
                return new String(b, StandardCharsets.UTF_8);
            }
        }
        throw truncated();
    }

    // ---- value helpers ----

    private static List<Object> tuple(List<Object> items) {
        return Collections.unmodifiableList(new ArrayList<>(items));
    }

    private Object parseIntLine(String s) {
        // Protocol 0 writes booleans as INT "01" / "00".
        if (s.equals("01")) {
            return Boolean.TRUE;
        }
        if (s.equals("00")) {
            return Boolean.FALSE;
        }
        return parseLongLine(s);
    }

    private Object parseLongLine(String s) {
        String t = s.endsWith("L") ? s.substring(0, s.length() - 1) : s;
        try {
            return normalize(new BigInteger(t));
        } catch (NumberFormatException e) {
            throw corrupt("bad integer literal '" + s + "'");
        }
    }

    private long memoKey(String s) {
        Object v = parseLongLine(s);
        if (!(v instanceof Long l)) {
            throw corrupt("memo key out of range");
        }
        return l;
    }

    private Object parseFloatLine(String s) {
        try {
            return Double.parseDouble(s);
        } catch (NumberFormatException e) {
            throw corrupt("bad float literal '" + s + "'");
        }
    }

    private static Object littleEndianSigned(byte[] le) {
        if (le.length == 0) {
            return 0L;
        }
        byte[] be = new byte[le.length];
        for (int i = 0; i < le.length; i++) {
            be[i] = le[le.length - 1 - i];
        }
        return normalize(new BigInteger(be));
    }

    private static Object normalize(BigInteger v) {
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private static String rawUnicodeEscape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 5 < s.length() && s.charAt(i + 1) == 'u'
                    && s.substring(i + 2, i + 6).matches("[0-9a-fA-F]{4}")) {
                b.append((char) Integer.parseInt(s.substring(i + 2, i + 6), 16));
                i += 5;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private long[] longs(Object o, String what) {
        if (!(o instanceof List<?> l)) {
            throw corrupt("tensor " + what + " is not a tuple");
        }
        long[] out = new long[l.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(l.get(i) instanceof Long v)) {
                throw corrupt("tensor " + what + " holds a non-integer");
            }
            out[i] = v;
        }
        return out;
    }

    private List<Object> list(Object o, String opcode) {
        if (o instanceof ArrayList<?>) {
            @SuppressWarnings("unchecked")
            List<Object> l = (List<Object>) o;
            return l;
        }
        throw refused(opcode + " on " + describe(o));
    }

    private Map<Object, Object> dict(Object o, String opcode) {
        if (o instanceof LinkedHashMap<?, ?>) {
            @SuppressWarnings("unchecked")
            Map<Object, Object> m = (Map<Object, Object>) o;
            return m;
        }
        throw refused(opcode + " on " + describe(o));
    }

    private Set<Object> set(Object o) {
        if (o instanceof LinkedHashSet<?>) {
            @SuppressWarnings("unchecked")
            Set<Object> s = (Set<Object>) o;
            return s;
        }
        throw refused("ADDITEMS on " + describe(o));
    }

    private Map<Object, Object> dictOf(List<Object> items, Map<Object, Object> into) {
        if (items.size() % 2 != 0) {
            throw corrupt("odd number of items for a dict");
        }
        for (int i = 0; i < items.size(); i += 2) {
            into.put(items.get(i), items.get(i + 1));
        }
        return into;
    }

    private List<?> iterable(Object o) {
        if (o instanceof List<?> l) {
            return l;
        }
        if (o instanceof Set<?> s) {
            return new ArrayList<>(s);
        }
        throw corrupt("expected a list or tuple, got " + describe(o));
    }

    private static String describe(Object o) {
        if (o instanceof PyGlobal g) {
            return "'" + g.qualifiedName() + "'";
        }
        return o == null ? "None" : "a " + o.getClass().getSimpleName();
    }

    private UserException refused(String what) {
        return new UserException(file + ": refusing to load " + what
                + "; this is not a plain tensor checkpoint and loading it in Python could run code"
                + " (re-save only the state_dict, or use safetensors, from a source you trust)");
    }

    private UserException corrupt(String what) {
        return new UserException(file + ": corrupt checkpoint pickle (" + printable(what) + "); re-download or re-save the file");
    }

    /** Damaged bytes quoted in a message stay one short line: control characters shown as '?', at most 120 chars. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 121));
        for (int i = 0; i < s.length() && b.length() < 120; i++) {
            char c = s.charAt(i);
            b.append(c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) ? '?' : c);
        }
        return s.length() > 120 ? b.append("...").toString() : b.toString();
    }

    private UserException truncated() {
        return new UserException(file + ": the checkpoint pickle is truncated at byte " + in.position()
                + "; the file is incomplete, re-download or re-save it");
    }
}
