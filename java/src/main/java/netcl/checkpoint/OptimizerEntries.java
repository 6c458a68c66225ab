package netcl.checkpoint;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import netcl.optim.DType;
import netcl.optim.ParamGroup;
import netcl.optim.ParamStateInfo;
import netcl.optim.RMSProp;
import netcl.optim.SegmentParamState;
import netcl.optim.SegmentStateDict;
import netcl.optim.StateBuffer;
import netcl.optim.StateDict;

/**
 * An optimizer's state under PyTorch's names: tensors {@code state.<i>.square_avg},
 * {@code state.<i>.momentum_buffer} and {@code state.<i>.grad_avg} (float32, the parameter's
 * number of elements), netcl's {@code state.<i>.master} (the float32 master copy of a BF16/FP16
 * parameter; PyTorch keeps no such state), and in {@code __metadata__} the step count {@code state.<i>.step}, the
 * groups {@code param_groups} (see {@link ParamGroupsJson}) and {@code format_version}. {@code i}
 * is PyTorch's parameter id: the position over all groups in order, as the ids listed in
 * param_groups map it.
 */
final class OptimizerEntries {
    static final String VERSION_KEY = "format_version";
    static final int VERSION = 1;
    static final String PARAM_GROUPS = "param_groups";
    static final String STATE_PREFIX = "state.";
    /** The loss scaler's state ({@code scaler.scale}, ...): see {@link ScalerEntries}. */
    static final String SCALER_PREFIX = "scaler.";
    static final String STEP = "step";
    /** The state buffers by their names in the file. */
    private static final Map<String, StateBuffer> BUFFERS = Arrays.stream(StateBuffer.values())
            .collect(Collectors.toUnmodifiableMap(OptimizerEntries::fileName, buffer -> buffer));

    private static final Pattern STATE_NAME = Pattern.compile("state\\.(0|[1-9][0-9]{0,18})\\.([a-z_]+)");
    private static final Pattern COUNT = Pattern.compile("0|[1-9][0-9]{0,18}");

    private OptimizerEntries() {
    }

    /** Whether a tensor name or metadata key belongs to the optimizer's part of a file. */
    static boolean isReserved(String key) {
        return key.equals(VERSION_KEY) || key.equals(PARAM_GROUPS) || key.startsWith(STATE_PREFIX)
                || key.startsWith(SCALER_PREFIX);
    }

    /** A state buffer's name in the file: PyTorch's ({@code square_avg}, ...), and {@code master}. */
    static String fileName(StateBuffer buffer) {
        return buffer.name().toLowerCase(Locale.ROOT);
    }

    static String name(long index, String buffer) {
        return STATE_PREFIX + index + "." + buffer;
    }

    /**
     * What saving {@code optimizer} writes: its metadata and its state tensors, parameter by
     * parameter, each one's buffers in {@link StateBuffer}'s order. The saver holds the
     * optimizer's lock from the plan until the state is copied, so that the two agree.
     */
    record Plan(Map<String, String> metadata, List<StateTensor> tensors) {

        static Plan of(RMSProp optimizer) {
            Map<String, String> metadata = new LinkedHashMap<>();
            metadata.put(PARAM_GROUPS, ParamGroupsJson.write(groupStates(optimizer.paramGroups())));
            List<StateTensor> tensors = new ArrayList<>();
            for (Map.Entry<Integer, ParamStateInfo> e : optimizer.stateInfo().entrySet()) {
                int i = e.getKey();
                ParamStateInfo info = e.getValue();
                metadata.put(name(i, STEP), Long.toString(info.step()));
                for (StateBuffer buffer : StateBuffer.values()) {
                    if (buffer.isIn(info)) {
                        long numel = info.numel();
                        tensors.add(new StateTensor(new Header.Entry(name(i, fileName(buffer)), ElementType.F32,
                                new long[] {numel}, 0, numel * Float.BYTES), i, buffer));
                    }
                }
            }
            return new Plan(metadata, tensors);
        }
    }

    /** A state buffer's entry in the file (offsets not yet laid out) and where its values come from. */
    record StateTensor(Header.Entry entry, int index, StateBuffer buffer) {
    }

    /** The groups' options with PyTorch's parameter ids (0, 1, ... over all groups in order). */
    private static List<StateDict.GroupState> groupStates(List<ParamGroup> groups) {
        List<StateDict.GroupState> states = new ArrayList<>();
        int id = 0;
        for (ParamGroup g : groups) {
            List<Integer> ids = new ArrayList<>();
            for (int k = 0; k < g.params().size(); k++) {
                ids.add(id++);
            }
            states.add(new StateDict.GroupState(g.lr(), g.alpha(), g.eps(), g.weightDecay(), g.momentum(),
                    g.centered(), g.maximize(), List.copyOf(ids)));
        }
        return List.copyOf(states);
    }

    /**
     * The state dict that {@code file} holds for {@code optimizer}, its tensors still in the
     * file's mapping; every entry is checked against the format and against the optimizer's
     * groups and parameters, so loading it cannot fail on the file's account.
     */
    static SegmentStateDict read(SafetensorsFile file, RMSProp optimizer) throws CheckpointException {
        Path path = file.path();
        Map<String, String> metadata = file.metadata();
        checkVersion(path, metadata.get(VERSION_KEY));
        String groupsJson = metadata.get(PARAM_GROUPS);
        if (groupsJson == null) {
            throw new CheckpointException(path, "missing required entry " + PARAM_GROUPS + " in __metadata__");
        }
        List<ParamGroupsJson.Group> groups = ParamGroupsJson.parse(path, groupsJson);
        List<ParamGroup> mine = optimizer.paramGroups();
        if (groups.size() != mine.size()) {
            throw new CheckpointException(path, "the checkpoint has " + groups.size()
                    + " parameter groups, the optimizer has " + mine.size());
        }
        Map<Long, Integer> positions = new HashMap<>();
        List<Long> numels = new ArrayList<>();
        List<DType> dtypes = new ArrayList<>();
        List<StateDict.GroupState> groupStates = new ArrayList<>();
        for (int g = 0; g < groups.size(); g++) {
            ParamGroupsJson.Group group = groups.get(g);
            List<netcl.optim.Parameter> params = mine.get(g).params();
            if (group.ids().size() != params.size()) {
                throw new CheckpointException(path, "parameter group " + g + " has " + group.ids().size()
                        + " parameters in the checkpoint, " + params.size() + " in the optimizer");
            }
            List<Integer> ids = new ArrayList<>();
            for (int k = 0; k < params.size(); k++) {
                long id = group.ids().get(k);
                if (positions.putIfAbsent(id, numels.size()) != null) {
                    throw new CheckpointException(path, "parameter id " + id + " appears twice in param_groups");
                }
                ids.add(numels.size());
                numels.add(params.get(k).numel());
                dtypes.add(params.get(k).dtype());
            }
            groupStates.add(new StateDict.GroupState(group.lr(), group.alpha(), group.eps(), group.weightDecay(),
                    group.momentum(), group.centered(), group.maximize(), List.copyOf(ids)));
        }

        Map<Long, MemorySegment[]> buffers = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : file.tensors().entrySet()) {
            String name = e.getKey();
            if (!name.startsWith(STATE_PREFIX)) {
                continue;
            }
            Matcher m = STATE_NAME.matcher(name);
            StateBuffer buffer = m.matches() ? BUFFERS.get(m.group(2)) : null;
            if (buffer == null) {
                throw new CheckpointException(path, "unknown optimizer state tensor '" + name + "'");
            }
            long id = Long.parseLong(m.group(1));
            Integer position = positions.get(id);
            if (position == null) {
                throw new CheckpointException(path, "tensor '" + name + "' is the state of parameter " + id
                        + ", which no parameter group lists");
            }
            Tensor t = e.getValue();
            long numel = numels.get(position);
            if (t.type() != ElementType.F32) {
                throw new CheckpointException(path, "tensor '" + name + "' is " + t.type() + ", not F32");
            }
            if (t.numel() != numel) {
                throw new CheckpointException(path, "tensor '" + name + "' has " + t.numel()
                        + " elements, but its parameter (number " + position + " in the optimizer) has " + numel);
            }
            if (t.data().address() % Float.BYTES != 0) {
                throw new CheckpointException(path, "tensor '" + name + "' is not 4-byte aligned in the file");
            }
            if (buffer == StateBuffer.MASTER && dtypes.get(position) == DType.FP32) {
                throw new CheckpointException(path, "tensor '" + name + "' is a master copy, but its parameter (number "
                        + position + " in the optimizer) is FP32; only BF16 and FP16 parameters have one");
            }
            buffers.computeIfAbsent(id, k -> new MemorySegment[StateBuffer.values().length])[buffer.ordinal()] = t.data();
        }

        Map<Long, Long> steps = new HashMap<>();
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            String key = e.getKey();
            if (!key.startsWith(STATE_PREFIX)) {
                continue;
            }
            Matcher m = STATE_NAME.matcher(key);
            if (!m.matches() || !m.group(2).equals(STEP)) {
                throw new CheckpointException(path, "unknown optimizer entry '" + key + "' in __metadata__");
            }
            long id = Long.parseLong(m.group(1));
            if (!buffers.containsKey(id)) {
                throw new CheckpointException(path, "__metadata__ has " + key + " but the file has no tensor "
                        + name(id, fileName(StateBuffer.SQUARE_AVG)));
            }
            steps.put(id, step(path, key, e.getValue()));
        }

        Map<Integer, SegmentParamState> state = new LinkedHashMap<>();
        for (Map.Entry<Long, MemorySegment[]> e : buffers.entrySet()) {
            long id = e.getKey();
            MemorySegment[] b = e.getValue();
            if (b[StateBuffer.SQUARE_AVG.ordinal()] == null) {
                throw new CheckpointException(path, "missing required tensor " + name(id, fileName(StateBuffer.SQUARE_AVG))
                        + " (the file has other state of parameter " + id + ")");
            }
            Long step = steps.get(id);
            if (step == null) {
                throw new CheckpointException(path, "missing required entry " + STATE_PREFIX + id + "." + STEP
                        + " in __metadata__");
            }
            state.put(positions.get(id), new SegmentParamState(step, b[StateBuffer.SQUARE_AVG.ordinal()],
                    b[StateBuffer.MOMENTUM_BUFFER.ordinal()], b[StateBuffer.GRAD_AVG.ordinal()],
                    b[StateBuffer.MASTER.ordinal()]));
        }
        return new SegmentStateDict(state, List.copyOf(groupStates));
    }

    private static long step(Path path, String key, String value) throws CheckpointException {
        if (!COUNT.matcher(value).matches()) {
            throw new CheckpointException(path, key + " is '" + value + "', not a step count (an integer >= 0)");
        }
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new CheckpointException(path, key + " is " + value + ", over the largest step count 2^63 - 1");
        }
    }

    static void checkVersion(Path path, String value) throws CheckpointException {
        if (value == null) {
            throw new CheckpointException(path, "missing required entry " + VERSION_KEY
                    + " in __metadata__ (not a netcl checkpoint?)");
        }
        if (!COUNT.matcher(value).matches() || value.equals("0")) {
            throw new CheckpointException(path, VERSION_KEY + " is '" + value + "', not a version number");
        }
        if (value.length() > 9 || Integer.parseInt(value) > VERSION) {
            throw new CheckpointException(path, "format version " + value + " is from a newer netcl; this one reads "
                    + "version " + VERSION + " and older");
        }
    }
}
